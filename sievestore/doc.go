// Package sievestore keeps each user's Sieve scripts on disk and hands
// delivery the compiled sequence to run: the global before scripts, the
// user's active script, the global after scripts (Pigeonhole's
// sieve_before, sieve and sieve_after). ManageSieve and "storaged sieve"
// edit scripts through it. The vacation and duplicate memory is not
// here: it lives in each account's index (store.SieveMemory), with the
// mail it is about.
//
// It is a package of its own, not part of sieve, because sieve does no
// I/O by design (see its doc): the language is pure, and this package is
// the files and the cache around it.
//
// On disk (dir is [sieve] dir, data/sieve by default):
//
//	dir/<user>/NAME.sieve   one file per script (RFC 5804 §1.6 names)
//	dir/<user>.sieve        symlink to <user>/NAME.sieve: the active script
//
// which is Pigeonhole's layout (~/sieve/NAME.sieve and ~/.dovecot.sieve
// as a symlink into it) with dir/<user> for ~/sieve. A user with no
// scripts of ours whose home holds a Dovecot layout has it adopted as it
// is: the home is the passwd-file's home field when set, else the user's
// mail directory (mail.dir/<user>, where an adopted Dovecot Maildir
// lives); <home>/sieve is the script folder and <home>/.dovecot.sieve
// the active link. Edits then go to those files, so the user can move
// back to Dovecot at any time. A .dovecot.sieve that is a plain file is
// the active script, shown as "dovecot"; activating another script
// moves it into the folder as dovecot.sieve first, as Pigeonhole does.
//
// Invariants:
//   - A script is stored only if it compiles (Put), and written
//     atomically (temp file, fsync, rename, fsync of the directory): a
//     crash leaves the old script or the new one, never half of one.
//   - Switching the active script is one rename of a symlink: at every
//     moment there is one active script or none.
//   - Names are checked before any path is built from them (CheckName):
//     no '/', no leading '.', no control characters, at most 128
//     characters; a hostile name never reaches the file system.
//   - The active script may not be deleted (RFC 5804 §2.10).
//   - A compiled script is reused until its file or any file it
//     includes changes (inode, size or mtime differ); a compile error is
//     cached the same way, so a broken script costs one compile.
//   - "No active script" is remembered only while the directories that
//     hold the names which could activate one (dir, the home) keep the
//     stamps they had before the look-up, and only once their mtimes are
//     settled (none.go): a script activated by another process counts
//     from the next delivery.
//   - The delivery sequence continues to the next script only while the
//     implicit keep stands (Pigeonhole's multiscript rule): a before
//     script that files or discards a message ends the sequence.
package sievestore
