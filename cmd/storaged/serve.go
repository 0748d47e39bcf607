package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/logfile"
	"github.com/storaged/storaged/internal/sdnotify"
	"github.com/storaged/storaged/server"
)

func serve(cfg *config.Config, cfgPath string, logger *slog.Logger, level *slog.LevelVar, lf *logfile.File, stdout io.Writer) int {
	// server.user: checked before New makes anything on disk.
	if err := server.CheckRunAs(cfg); err != nil {
		logger.Error("cannot start", "err", err)
		return exConfig
	}
	srv, err := server.New(cfg, logger, 2*time.Second)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exCantCreat
	}
	srv.LogLevel = level
	if lf != nil {
		srv.ReopenLog = lf.Reopen
	}
	// Type=notify: systemd waits for READY=1, and hears of reloads and
	// of the drain (contrib/systemd/storaged.service).
	notify := sdnotify.Notifier{Socket: os.Getenv("NOTIFY_SOCKET")}
	srv.LoadConfig = func() (*config.Config, error) { return config.Load(cfgPath) }
	// One server per data directory: a second one would fight the first
	// over every index.
	unlock, err := server.LockDataDir(cfg)
	if err != nil {
		logger.Error("cannot start", "err", err)
		srv.Close()
		return exTempFail
	}
	defer unlock()
	pw, err := randomPassword()
	demo := false
	if err == nil {
		demo, err = srv.FirstStart(pw)
	}
	if err != nil {
		logger.Error("cannot start", "err", err)
		srv.Close()
		return exConfig
	}
	// The handlers go in before Start: the start-up repair runs behind
	// it and may finish (and a supervisor or test act on its log line)
	// before Start returns, and a SIGTERM that arrives before Notify
	// kills the process without the drain.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	// SIGHUP reloads (certificates after a renewal, the users file)
	// instead of killing the process; connections keep running.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := srv.Start(); err != nil {
		logger.Error("cannot start", "err", err)
		srv.Close()
		return exUnavail
	}
	if demo {
		srv.Banner(stdout, pw)
	}
	if err := notify.Ready("serving"); err != nil {
		logger.Warn("cannot tell systemd we are ready", "err", err)
	}
	code := 0
wait:
	for {
		select {
		case <-hup:
			notify.Reloading()
			if msg, err := srv.Reload(); err != nil {
				logger.Warn("SIGHUP: reload failed", "done", msg, "err", err)
			} else {
				logger.Info("SIGHUP: reloaded", "done", msg)
			}
			notify.Ready("serving")
		case <-srv.Stopping():
			logger.Info("shutting down: draining deliveries in flight", "by", "storaged stop")
			break wait
		case s := <-sig:
			logger.Info("shutting down: draining deliveries in flight", "signal", s.String())
			break wait
		case err := <-srv.Err():
			logger.Error("listener failed", "err", err)
			code = exSoftware
			break wait
		}
	}
	notify.Stopping()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	logger.Info("stopped")
	return code
}
