package sieve

// The command and test table: what each takes, and which extension
// brings it. The checker reads only this table for arity and tags, so an
// extension is one entry here and one case in the interpreter.

// pkind is the kind of a positional argument.
type pkind uint8

const (
	pList   pkind = iota // string list (a single string is a list of one)
	pString              // exactly one string
	pNumber
)

type tagSpec struct {
	ext   string // "" for the base language of the command
	param pkind
	has   bool   // the tag takes a parameter of kind param
	group string // tags of one group exclude each other
}

type cmdSpec struct {
	exts  []string // any of these extensions makes it available
	test  bool
	tags  map[string]tagSpec
	pos   []pkind
	opt   int  // this many of pos may be left out
	lead  bool // the optional arguments come first (hasflag, setflag)
	tests int  // 0 none, 1 a single test, -1 a test list
	block bool
}

func tags(groups ...map[string]tagSpec) map[string]tagSpec {
	out := map[string]tagSpec{}
	for _, g := range groups {
		for k, v := range g {
			out[k] = v
		}
	}
	return out
}

var (
	matchTags = map[string]tagSpec{
		"is":         {group: "match"},
		"contains":   {group: "match"},
		"matches":    {group: "match"},
		"regex":      {ext: "regex", group: "match"},
		"count":      {ext: "relational", group: "match", has: true, param: pString},
		"value":      {ext: "relational", group: "match", has: true, param: pString},
		"comparator": {has: true, param: pString, group: "comparator"},
	}
	addrTags = map[string]tagSpec{
		"all":       {group: "addrpart"},
		"localpart": {group: "addrpart"},
		"domain":    {group: "addrpart"},
		"user":      {ext: "subaddress", group: "addrpart"},
		"detail":    {ext: "subaddress", group: "addrpart"},
	}
	indexTags = map[string]tagSpec{
		"index": {ext: "index", has: true, param: pNumber, group: "index"},
		"last":  {ext: "index", group: "last"},
	}
	flagsTag = map[string]tagSpec{"flags": {ext: "imap4flags", has: true, param: pList}}
	copyTag  = map[string]tagSpec{"copy": {ext: "copy"}}
)

var specs = map[string]*cmdSpec{
	// RFC 5228 §3 control commands.
	"require": {pos: []pkind{pList}},
	"if":      {tests: 1, block: true},
	"elsif":   {tests: 1, block: true},
	"else":    {block: true},
	"stop":    {},
	// RFC 5228 §4 actions, with RFC 3894 :copy and RFC 5232 :flags.
	"keep":     {tags: tags(flagsTag)},
	"discard":  {},
	"redirect": {tags: tags(copyTag), pos: []pkind{pString}},
	"fileinto": {exts: []string{"fileinto"}, tags: tags(copyTag, flagsTag,
		map[string]tagSpec{"create": {ext: "mailbox"}}), pos: []pkind{pString}},
	// RFC 5429.
	"reject":  {exts: []string{"reject"}, pos: []pkind{pString}},
	"ereject": {exts: []string{"ereject"}, pos: []pkind{pString}},
	// RFC 5230, RFC 6131 :seconds.
	"vacation": {exts: []string{"vacation", "vacation-seconds"}, tags: map[string]tagSpec{
		"days":      {has: true, param: pNumber, group: "period"},
		"seconds":   {ext: "vacation-seconds", has: true, param: pNumber, group: "period"},
		"subject":   {has: true, param: pString},
		"from":      {has: true, param: pString},
		"addresses": {has: true, param: pList},
		"mime":      {},
		"handle":    {has: true, param: pString},
	}, pos: []pkind{pString}},
	// RFC 5232.
	"setflag":    {exts: []string{"imap4flags"}, pos: []pkind{pString, pList}, opt: 1, lead: true},
	"addflag":    {exts: []string{"imap4flags"}, pos: []pkind{pString, pList}, opt: 1, lead: true},
	"removeflag": {exts: []string{"imap4flags"}, pos: []pkind{pString, pList}, opt: 1, lead: true},
	// RFC 5229.
	"set": {exts: []string{"variables"}, tags: map[string]tagSpec{
		"lower": {group: "mod40"}, "upper": {group: "mod40"},
		"lowerfirst": {group: "mod30"}, "upperfirst": {group: "mod30"},
		"quotewildcard": {group: "mod20"}, "quoteregex": {ext: "regex", group: "mod20"},
		"length": {group: "mod10"},
	}, pos: []pkind{pString, pString}},
	// RFC 6609.
	"include": {exts: []string{"include"}, tags: map[string]tagSpec{
		"personal": {group: "location"}, "global": {group: "location"},
		"once": {}, "optional": {},
	}, pos: []pkind{pString}},
	"return": {exts: []string{"include"}},
	"global": {exts: []string{"include"}, pos: []pkind{pList}},
	// RFC 5293.
	"addheader": {exts: []string{"editheader"}, tags: map[string]tagSpec{"last": {}},
		pos: []pkind{pString, pString}},
	"deleteheader": {exts: []string{"editheader"}, tags: tags(matchTags, map[string]tagSpec{
		"index": {has: true, param: pNumber, group: "index"},
		"last":  {group: "last"},
	}), pos: []pkind{pString, pList}, opt: 1},

	// Tests, RFC 5228 §5.
	"true":    {test: true},
	"false":   {test: true},
	"not":     {test: true, tests: 1},
	"allof":   {test: true, tests: -1},
	"anyof":   {test: true, tests: -1},
	"header":  {test: true, tags: tags(matchTags, indexTags), pos: []pkind{pList, pList}},
	"address": {test: true, tags: tags(matchTags, addrTags, indexTags), pos: []pkind{pList, pList}},
	"envelope": {exts: []string{"envelope"}, test: true, tags: tags(matchTags, addrTags),
		pos: []pkind{pList, pList}},
	"exists": {test: true, pos: []pkind{pList}},
	"size": {test: true, tags: map[string]tagSpec{"over": {group: "size"}, "under": {group: "size"}},
		pos: []pkind{pNumber}},
	// RFC 5173.
	"body": {exts: []string{"body"}, test: true, tags: tags(matchTags, map[string]tagSpec{
		"raw": {group: "transform"}, "text": {group: "transform"},
		"content": {has: true, param: pList, group: "transform"},
	}), pos: []pkind{pList}},
	"string":        {exts: []string{"variables"}, test: true, tags: tags(matchTags), pos: []pkind{pList, pList}},
	"hasflag":       {exts: []string{"imap4flags"}, test: true, tags: tags(matchTags), pos: []pkind{pList, pList}, opt: 1, lead: true},
	"mailboxexists": {exts: []string{"mailbox"}, test: true, pos: []pkind{pList}},
	// RFC 5260.
	"date": {exts: []string{"date"}, test: true, tags: tags(matchTags, indexTags, map[string]tagSpec{
		"zone": {has: true, param: pString, group: "zone"}, "originalzone": {group: "zone"},
	}), pos: []pkind{pString, pString, pList}},
	"currentdate": {exts: []string{"date"}, test: true, tags: tags(matchTags, map[string]tagSpec{
		"zone": {has: true, param: pString, group: "zone"},
	}), pos: []pkind{pString, pList}},
	// RFC 7352.
	"duplicate": {exts: []string{"duplicate"}, test: true, tags: map[string]tagSpec{
		"handle": {has: true, param: pString},
		"header": {has: true, param: pString, group: "id"}, "uniqueid": {has: true, param: pString, group: "id"},
		"seconds": {has: true, param: pNumber}, "last": {},
	}},
	// RFC 5183.
	"environment": {exts: []string{"environment"}, test: true, tags: tags(matchTags), pos: []pkind{pString, pList}},
	// RFC 5235.
	"spamtest": {exts: []string{"spamtest", "spamtestplus"}, test: true, tags: tags(matchTags,
		map[string]tagSpec{"percent": {ext: "spamtestplus"}}), pos: []pkind{pString}},
	"virustest": {exts: []string{"virustest"}, test: true, tags: tags(matchTags), pos: []pkind{pString}},
}

// Extensions lists every capability this package implements, in the
// order ManageSieve should announce them.
var Extensions = []string{
	"fileinto", "envelope", "encoded-character", "imap4flags", "copy", "subaddress",
	"variables", "relational", "body", "vacation", "vacation-seconds", "reject", "ereject",
	"mailbox", "include", "date", "index", "editheader", "duplicate", "regex",
	"environment", "spamtest", "spamtestplus", "virustest",
	"comparator-i;octet", "comparator-i;ascii-casemap", "comparator-i;ascii-numeric",
	"comparator-i;unicode-casemap",
}

// implied lists extensions that bring others with them: RFC 5235 §3.1
// (spamtestplus includes spamtest), RFC 6131 §2 (vacation-seconds
// includes vacation).
var implied = map[string][]string{
	"spamtestplus":     {"spamtest"},
	"vacation-seconds": {"vacation"},
}
