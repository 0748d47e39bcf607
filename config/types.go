package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The TOML decoder reports a value of the wrong type as "incompatible
// types: TOML value has type string; destination has type slice", in Go's
// words. checkTypes reads the document as plain TOML first and says, in
// the config's words, what the key expects, with an example taken from
// the defaults: `imap.listen must be a list like ["127.0.0.1:1143"], not
// the string "127.0.0.1:143"`. Keys the Config does not have are left to
// the unknown-key check.

// examples stand in for defaults that are empty.
var examples = map[string]string{
	"local_domains":         `["example.org"]`,
	"imap.listen_tls":       `["0.0.0.0:993"]`,
	"pop3.listen_tls":       `["0.0.0.0:995"]`,
	"quota.rules":           `["Trash:storage=+100M", "Spam:ignore"]`,
	"quota.warnings":        `[80, 95]`,
	"sieve.before":          `["/etc/storaged/before.sieve"]`,
	"sieve.after":           `["/etc/storaged/after.sieve"]`,
	"metrics.listen":        `"127.0.0.1:9190"`,
	"quota.policy_listen":   `"127.0.0.1:12340"`,
	"tls.cert":              `"/etc/ssl/mail.pem"`,
	"tls.key":               `"/etc/ssl/private/mail.key"`,
	"tls.certs":             "[[tls.certs]] with cert = \"…\" and key = \"…\"",
	"auth.trusted_networks": `["127.0.0.0/8", "::1"]`,
	"log.rawlog_users":      `["alice"]`,
}

var (
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	tomlUnmarshaler = reflect.TypeOf((*toml.Unmarshaler)(nil)).Elem()
)

// checkTypes returns the first value of doc, in the file's order, whose
// TOML type does not fit its key.
func checkTypes(doc map[string]any, md toml.MetaData) error {
	var errs []typeError
	def := Defaults()
	walkTable(doc, reflect.TypeOf(def), reflect.ValueOf(def), "", &errs)
	if len(errs) == 0 {
		return nil
	}
	order := map[string]int{}
	for i, k := range md.Keys() {
		if _, ok := order[k.String()]; !ok {
			order[k.String()] = i
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return order[errs[i].key] < order[errs[j].key] })
	return errs[0]
}

type typeError struct {
	key, want string
	got       any
}

func (e typeError) Error() string {
	return fmt.Sprintf("%s must be %s, not %s", e.key, e.want, describe(e.got))
}

// walkTable checks a table against struct type t (def is its default).
func walkTable(tab map[string]any, t reflect.Type, def reflect.Value, prefix string, errs *[]typeError) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		v, ok := tab[name]
		if !ok {
			continue
		}
		var d reflect.Value
		if def.IsValid() {
			d = def.Field(i)
		}
		checkValue(v, f.Type, d, prefix+name, errs)
	}
}

func checkValue(v any, t reflect.Type, def reflect.Value, key string, errs *[]typeError) {
	bad := func(want string) { *errs = append(*errs, typeError{key: key, want: want, got: v}) }
	pt := reflect.PointerTo(t)
	switch {
	case pt.Implements(tomlUnmarshaler):
		// Size: a number of bytes or a string with a unit.
		switch v.(type) {
		case int64, string:
		default:
			bad(`a size like "50M" or 52428800`)
		}
		return
	case pt.Implements(textUnmarshaler):
		if _, ok := v.(string); !ok {
			if t == reflect.TypeOf(Duration(0)) {
				bad(`a duration like "30s" or "10m"`)
			} else {
				bad("a string")
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string like " + example(key, def, `"…"`))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, ok := v.(int64); !ok {
			bad("a whole number like " + example(key, def, "10"))
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			bad("a number like " + example(key, def, "1.5"))
		}
	case reflect.Struct:
		tab, ok := v.(map[string]any)
		if !ok {
			bad("a table: [" + key + "] on a line of its own, its keys below it")
			return
		}
		walkTable(tab, t, def, key+".", errs)
	case reflect.Slice:
		elem := t.Elem()
		if elem.Kind() == reflect.Struct {
			tabs, ok := v.([]map[string]any)
			if list, isList := v.([]any); isList {
				// Inline tables: certs = [{cert = "…", key = "…"}].
				ok = true
				for _, item := range list {
					tab, isTab := item.(map[string]any)
					ok = ok && isTab
					tabs = append(tabs, tab)
				}
			}
			if !ok {
				bad("a list of tables like " + example(key, reflect.Value{}, "[["+key+"]]"))
				return
			}
			for _, tab := range tabs {
				walkTable(tab, elem, reflect.Value{}, key+".", errs)
			}
			return
		}
		list, ok := v.([]any)
		if !ok {
			bad("a list like " + example(key, def, listExample(elem)))
			return
		}
		for _, item := range list {
			var sub []typeError
			checkValue(item, elem, reflect.Value{}, key, &sub)
			if len(sub) > 0 {
				*errs = append(*errs, typeError{key: key, want: "a list of " + kindName(elem) + " like " + example(key, def, listExample(elem)), got: v})
				return
			}
		}
	}
}

// example is the key's default written as TOML, or the fallback when
// the default says nothing.
func example(key string, def reflect.Value, fallback string) string {
	if e, ok := examples[key]; ok {
		return e
	}
	if !def.IsValid() || def.IsZero() || def.Kind() == reflect.Slice && def.Len() == 0 {
		return fallback
	}
	switch def.Kind() {
	case reflect.String:
		return strconv.Quote(def.String())
	case reflect.Slice:
		parts := make([]string, def.Len())
		for i := range parts {
			parts[i] = tomlValue(def.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return tomlValue(def)
}

func tomlValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Int, reflect.Int64, reflect.Int32:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64, reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

func listExample(elem reflect.Type) string {
	switch elem.Kind() {
	case reflect.String:
		return `["…"]`
	case reflect.Int, reflect.Int64:
		return "[1, 2]"
	}
	return "[…]"
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "strings"
	case reflect.Int, reflect.Int64:
		return "whole numbers"
	case reflect.Float64:
		return "numbers"
	case reflect.Bool:
		return "true/false values"
	}
	return "values"
}

// describe names a TOML value for "… not X".
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return "the string " + strconv.Quote(x)
	case int64:
		return "the number " + strconv.FormatInt(x, 10)
	case float64:
		return "the number " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return "a date"
	case []map[string]any:
		return "a list of tables"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}
