// Package admin holds storaged's admin verbs that act on a user's store
// (user show, auth test, expunge, search, fetch, import, export, index
// rebuild, who,
// reload, stop) and
// the socket through which the CLI runs them inside the serving process.
//
// A verb is one function over Env, whatever runs it: the CLI calls Run
// directly when no server is up, or sends its arguments over the admin
// socket (data_dir/admin.sock) when one is, and the server calls the
// same Run with its own accounts. That matters because an index is open
// in one process at a time: through the socket a verb needs no stop of
// the server, and a change it makes (an expunge) reaches the IMAP
// sessions watching that mailbox at once, as any session's would.
//
// Invariants:
//   - The socket is 0600 and every peer's credentials are checked
//     (SO_PEERCRED): only root and the server's own uid are served.
//   - A request is one JSON line; the answer is a stream of JSON lines
//     (standard output, standard error) ending with the exit status, so
//     the CLI exits with the code the verb returned in the server.
//   - Read-only verbs open nothing for writing and create nothing.
package admin
