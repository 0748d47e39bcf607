package server

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
)

// NewAuthenticator is the login policy the configuration describes over
// users: username_format, mechanisms, the local domains, the throttle,
// and the master users' file when one is set.
func NewAuthenticator(cfg *config.Config, users *auth.DB, logger *slog.Logger) (*auth.Authenticator, error) {
	var masters *auth.DB
	if path := cfg.Auth.MasterUsersFile; path != "" {
		m, err := auth.Open(path, logger)
		if err != nil {
			return nil, fmt.Errorf("auth.master_users_file: %w", err)
		}
		m.SetMaxParallel(cfg.Auth.MaxParallelVerifications)
		if m.Len() == 0 {
			logger.Warn("auth.master_users_file holds no master user yet", "file", path)
		}
		masters = m
	}
	a, err := auth.NewAuthenticator(users, cfg.AuthPolicy(masters))
	if err != nil {
		return nil, err
	}
	if a.Offers(auth.MechSCRAM) {
		// Clients that see SCRAM-SHA-256 prefer it; say so when no user
		// can do it.
		n := 0
		for _, u := range users.List() {
			if h := strings.ToUpper(u.Hash); strings.HasPrefix(h, "{SCRAM-SHA-256}") || strings.HasPrefix(h, "{PLAIN}") || strings.HasPrefix(h, "{CLEAR") {
				n++
			}
		}
		if n == 0 && users.Len() > 0 {
			logger.Warn("auth.mechanisms offers SCRAM-SHA-256, but no user's hash can do it ({SCRAM-SHA-256} or {PLAIN}): their SCRAM logins will fail", "users", users.Len())
		}
	}
	return a, nil
}
