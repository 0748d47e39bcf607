// Package safefs opens, creates, renames and removes files beneath one
// directory without ever leaving it: the way every storage format
// reaches the files of a user's store, which that user (a local account,
// procmail, mutt) may change at any moment, symbolic links and hard
// links included, while the server runs as root.
//
// A Dir is an open directory descriptor (the store root). Every name
// given to its methods is a path relative to it, in the syntax CheckPath
// accepts: '/' between components, no empty component, no "." or "..",
// no NUL, nothing absolute. It is resolved by the kernel with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) where the kernel has it
// (Linux 5.6), otherwise one component at a time with openat(O_NOFOLLOW),
// so a symbolic link anywhere in the name, the last component included,
// is an error that Is ErrLink, never followed, and there is no moment
// between a check and a use in which a directory swapped for a link
// could redirect the call: each call resolves the whole name itself.
//
// Invariants:
//   - No call follows a symbolic link, at any component.
//   - Create and CreateTemp use O_CREAT|O_EXCL: they never open a file
//     that exists, so nothing is ever written through a link someone
//     planted. CreateTemp names are random (96 bits), not guessable.
//   - WriteFile writes a new file and renames it over the old name: a
//     name that was a link, hard or symbolic, is replaced, never written
//     through.
//   - Reads open with O_NONBLOCK, so a FIFO planted where a file should
//     be never blocks a session; ReadFile and OpenFile(Regular) refuse
//     anything but a regular file.
//   - Hard links: a file with several links may be another user's (or
//     the system's) file linked into a store. Since Linux 3.6 the kernel
//     refuses such links unless the linker owns the file or may read and
//     write it (fs.protected_hardlinks = 1, every distribution's
//     default), and then a hard-linked file gives a user nothing they
//     could not read already; LinksProtected reports that setting, read
//     once. Where it is off, CheckLinks says so and readers of message
//     files (folder.OpenRaw) refuse a file with more than one link unless
//     it belongs to the store's owner and that owner is neither root nor
//     the process's own uid (a server dropped to one server.user owns
//     every store, so ownership does not tell one user's file from
//     another's, as root's does not when run as root). Writers
//     never write in place through a file with more than one link,
//     whatever the setting (Regular with Single).
//   - A Dir with an Owner (OpenDirOwned: a server running as root for
//     users with their own uid/gid) gives every file and directory it
//     makes to that owner before a byte is written, on a descriptor of
//     the new file, never through a name or a link; nothing that
//     existed before is chowned (owner.go).
//   - A Dir with an Owner that has a uid of its own, in a process run
//     as root, makes every path operation under the owner's file-system
//     uid, gid and groups, on a thread locked for that one operation and
//     switched back before it is unlocked (creds.go): a link that slips
//     past the rules above reaches only what the owner may reach. No
//     other goroutine ever runs on a thread with a user's ids.
//   - The directory a Dir was opened on is trusted (the store root sits
//     in the server's data directory, which users cannot write); only
//     what lies beneath it is the user's.
package safefs
