package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/storaged/storaged/auth"
)

// The login policy's keys ([auth]) and the users file's %d: defaults,
// validation naming the key, and the auth.Policy they make.

func defaultAuth() Auth {
	return Auth{
		TrustedNetworks:           []string{"127.0.0.0/8", "::1"},
		UsernameFormat:            auth.DefaultUsernameFormat,
		Mechanisms:                append([]string(nil), auth.DefaultMechanisms...),
		MasterUserSeparator:       "*",
		MaxFailuresPerAddress:     auth.DefaultThrottle.MaxPerAddress,
		MaxFailuresPerUserAddress: auth.DefaultThrottle.MaxPerPair,
		MaxFailuresPerUser:        auth.DefaultThrottle.MaxPerUser,
		FailureWindow:             Duration(auth.DefaultThrottle.Window),
		FailDelayMax:              Duration(auth.DefaultThrottle.MaxDelay),
	}
}

func (c *Config) resolveAuth() error {
	a := &c.Auth
	if err := auth.CheckUsersPath(c.Users.File); err != nil {
		return fmt.Errorf("users.file: %q: %s may stand once, in the file name, as in \"users/%s\"", c.Users.File, auth.DomainVar, auth.DomainVar)
	}
	if _, err := auth.ParseUsernameFormat(a.UsernameFormat); err != nil {
		return fmt.Errorf("auth.username_format: %w", err)
	}
	if len(a.Mechanisms) == 0 {
		return fmt.Errorf("auth.mechanisms: list at least one of %s", strings.Join(auth.KnownMechanisms, ", "))
	}
	for i, m := range a.Mechanisms {
		m = strings.ToUpper(strings.TrimSpace(m))
		ok := false
		for _, k := range auth.KnownMechanisms {
			ok = ok || k == m
		}
		if !ok {
			return fmt.Errorf("auth.mechanisms: %q is not one of %s", a.Mechanisms[i], strings.Join(auth.KnownMechanisms, ", "))
		}
		a.Mechanisms[i] = m
	}
	if a.MasterUsersFile != "" {
		a.MasterUsersFile = c.Path(a.MasterUsersFile)
		if strings.Contains(a.MasterUsersFile, auth.DomainVar) {
			return fmt.Errorf("auth.master_users_file: one file, without %s", auth.DomainVar)
		}
		if a.MasterUserSeparator == "" || strings.ContainsAny(a.MasterUserSeparator, " \t@") {
			return errors.New("auth.master_user_separator: one or more characters other than '@' and white space, like \"*\"")
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"auth.max_failures_per_address", a.MaxFailuresPerAddress}, {"auth.max_failures_per_user_address", a.MaxFailuresPerUserAddress}, {"auth.max_failures_per_user", a.MaxFailuresPerUser}} {
		if n.v < 0 {
			return fmt.Errorf("%s: must not be negative (0: never refuse)", n.key)
		}
	}
	if a.FailureWindow <= 0 {
		return errors.New("auth.failure_window: must be positive, like \"15m\"")
	}
	if a.FailDelayMax < 0 {
		return errors.New("auth.fail_delay_max: must not be negative")
	}
	if strings.ContainsAny(c.LMTP.RecipientDelimiter, "@\" \t\r\n") {
		return fmt.Errorf("lmtp.recipient_delimiter: %q: '@', quotes and white space cannot separate a detail", c.LMTP.RecipientDelimiter)
	}
	return nil
}

// AuthPolicy is the login policy the configuration describes, with the
// master users' database (nil: none).
func (c *Config) AuthPolicy(masters *auth.DB) auth.Policy {
	a := c.Auth
	return auth.Policy{
		UsernameFormat:  a.UsernameFormat,
		Mechanisms:      a.Mechanisms,
		LocalDomains:    c.LocalDomains,
		Masters:         masters,
		MasterSeparator: a.MasterUserSeparator,
		Throttle: auth.ThrottleConfig{
			MaxPerAddress: a.MaxFailuresPerAddress,
			MaxPerPair:    a.MaxFailuresPerUserAddress,
			MaxPerUser:    a.MaxFailuresPerUser,
			Window:        time.Duration(a.FailureWindow),
			MaxDelay:      time.Duration(a.FailDelayMax),
		},
		Trusted: c.TrustedNetworks(),
	}
}
