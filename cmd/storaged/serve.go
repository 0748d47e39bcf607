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
	"github.com/storaged/storaged/server"
)

// drainTimeout bounds how long SIGTERM waits for transactions in flight.
const drainTimeout = 30 * time.Second

func serve(cfg *config.Config, cfgPath string, logger *slog.Logger, level *slog.LevelVar, stdout io.Writer) int {
	srv, err := server.New(cfg, logger, 2*time.Second)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exCantCreat
	}
	srv.LogLevel = level
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
	if err := srv.Start(); err != nil {
		logger.Error("cannot start", "err", err)
		srv.Close()
		return exUnavail
	}
	if demo {
		srv.Banner(stdout, pw)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	// SIGHUP reloads (certificates after a renewal, the users file)
	// instead of killing the process; connections keep running.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	code := 0
wait:
	for {
		select {
		case <-hup:
			if msg, err := srv.Reload(); err != nil {
				logger.Warn("SIGHUP: reload failed", "err", err)
			} else {
				logger.Info("SIGHUP: reloaded", "done", msg)
			}
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
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	logger.Info("stopped")
	return code
}
