package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/server"
	"github.com/storaged/storaged/store"
)

// Verbs that only read (user list, quota get, sieve list/get/check,
// config, version) create nothing on disk, and check and quota recalc
// create no store for a user who has none: an empty data directory stays
// empty. They open the users file (a missing one is an empty database)
// and the account registry, which touches the disk only when an account
// is opened, and they open only accounts that exist.

// openReadOnly opens the users file and the accounts without creating
// the data directory.
func openReadOnly(cfg *config.Config, logger *slog.Logger) (*auth.DB, *store.Accounts, error) {
	db, err := auth.Open(cfg.Users.File, logger)
	if err != nil {
		return nil, nil, err
	}
	accts, err := server.NewAccounts(cfg, db, logger, time.Second, nil)
	if err != nil {
		return nil, nil, err
	}
	return db, accts, nil
}

// pickUsers is USER (its name as the file spells it) or, for "-A", every
// user; false when USER is not in the file.
func pickUsers(db *auth.DB, who string) ([]auth.User, bool) {
	if who == "-A" {
		return db.List(), true
	}
	u, ok := db.Lookup(who)
	if !ok {
		return nil, false
	}
	return []auth.User{u}, true
}

// hasStore reports whether user has mail or an index on disk; opening an
// account that has neither would create both.
func hasStore(cfg *config.Config, user string) bool {
	for _, p := range []string{filepath.Join(cfg.Mail.Dir, user), filepath.Join(cfg.Mail.IndexDir, user)} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// userLimits are a user's quota limits without opening the account: the
// config's default under the user's passwd-file fields, as the server
// applies them (server.NewAccounts).
func userLimits(cfg *config.Config, u auth.User) (quota.Limits, error) {
	def, err := cfg.Quota.Limits()
	if err != nil {
		return quota.Limits{}, err
	}
	return quota.FromFields(def, u.Extra)
}
