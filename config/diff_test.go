package config

import (
	"reflect"
	"testing"
)

func TestChanged(t *testing.T) {
	a, b := Defaults(), Defaults()
	if got, err := Changed(&a, &b); err != nil || len(got) != 0 {
		t.Fatalf("same configs: %v %v", got, err)
	}
	b.IMAP.Listen = []string{"127.0.0.1:1993", "[::1]:1993"}
	b.Log.Level = "debug"
	b.TLS.Certs = []CertPair{{Cert: "c.pem", Key: "k.pem"}}
	got, err := Changed(&a, &b)
	if want := []string{"imap.listen", "log.level", "tls.certs"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("changed %v (%v), want %v", got, err, want)
	}
}
