package config

import (
	"strings"
	"testing"
)

// server.user and server.group: names or numbers of accounts that
// exist, never root; errors name the key.
func TestRunAs(t *testing.T) {
	c, err := Load(write(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid, ok, err := c.RunAs(); ok || err != nil || uid != -1 || gid != -1 {
		t.Errorf("no server.user: %d %d %v %v", uid, gid, ok, err)
	}
	c, err = Load(write(t, "[server]\nuser = \"nobody\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid, ok, err := c.RunAs(); !ok || err != nil || uid != 65534 || gid != 65534 {
		t.Errorf("server.user nobody: %d %d %v %v", uid, gid, ok, err)
	}
	c, err = Load(write(t, "[server]\nuser = \"65534\"\ngroup = \"0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid, ok, err := c.RunAs(); !ok || err != nil || uid != 65534 || gid != 0 {
		t.Errorf("server.user 65534, group 0: %d %d %v %v", uid, gid, ok, err)
	}
	c, err = Load(write(t, "[server]\nuser = \"nobody\"\naccess_groups = [\"0\", \"nogroup\", \"root\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if gids, err := c.AccessGIDs(); err != nil || len(gids) != 2 || gids[0] != 0 || gids[1] != 65534 {
		t.Errorf("server.access_groups 0, nogroup, root: %v %v, want [0 65534]", gids, err)
	}
	for body, key := range map[string]string{
		"[server]\nuser = \"no-such-user-here\"\n":                       "server.user",
		"[server]\nuser = \"root\"\n":                                    "server.user",
		"[server]\nuser = \"nobody\"\ngroup = \"no-such-g\"\n":           "server.group",
		"[server]\ngroup = \"nogroup\"\n":                                "server.group",
		"[server]\naccess_groups = [\"nogroup\"]\n":                      "server.access_groups",
		"[server]\nuser = \"nobody\"\naccess_groups = [\"no-such-g\"]\n": "server.access_groups",
	} {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), ": "+key+": ") {
			t.Errorf("%q: %v, want an error naming %s", body, err, key)
		}
	}
}
