// Package config is storaged's configuration: the TOML file, the embedded
// defaults it overrides, and validation that names the offending key.
//
// Invariants:
//   - Load with no file gives a complete, working configuration that
//     listens on loopback only.
//   - An unknown key or a bad value is an error naming the key; nothing
//     starts on a configuration that did not validate.
//   - Relative paths are relative to DataDir, resolved once in Load.
package config
