// Package mh is the MH format as nmh and mh-e keep it: a directory per
// folder, a file per message named by a positive number, and the public
// sequences in each folder's .mh_sequences. storaged needs no MH profile.
//
// Layout under the store root:
//
//	inbox/                 INBOX (nmh's default Inbox folder name)
//	inbox/1 inbox/2 ...    messages, LF line ends where that is lossless
//	inbox/.mh_sequences    "unseen: 1-3 7", "flagged: 2", "replied: 5", ...
//	Archive/2024/          "Archive/2024": folders nest as directories,
//	                       levels outside ASCII in modified UTF-7
//
// Flags: \Seen is the absence from the "unseen" sequence, \Flagged the
// "flagged" sequence and \Answered "replied" (nmh's conventions, which
// mh-e and Claws share). Other flags and keywords live in the index only.
// Sequences of the user's own ("cur", anything else) are kept as they are.
//
// Keys and names are the message numbers. nmh's "folder -pack" renumbers
// messages; storaged sees that as messages removed and others added (new
// UIDs), which is what IMAP clients can be told. A number that another
// program frees and reuses between two scans looks like the same message.
//
// Invariants:
//   - Append writes the message to a dot-file in the folder, fsyncs it,
//     then link(2)s it to the next free number, as mh-folders(5)
//     recommends: link never replaces, so concurrent appenders (inc,
//     rcvstore, another storaged delivery) each get their own number
//     without a lock. The directory is fsynced before Append returns.
//     A spooled message (NewMessage.Content) is streamed into the
//     dot-file, in the form StorageLF gives a message in memory.
//   - .mh_sequences is read and written in place under an fcntl lock, the
//     locking nmh uses by default (mhparam datalocking), so an inc or mark
//     running at the same time loses nothing. It is not fsynced: the index
//     holds the flags, the file is their copy for MH programs.
//   - Remove unlinks and fsyncs the directory before it returns.
//   - A folder deleted while it has children keeps its directory (it holds
//     them) with a .storaged-noselect marker, and is no mailbox until it
//     is created again.
//   - A folder named like a message number ("INBOX/51": the directory
//     inbox/51) is a folder, never a message: Scan skips it and Append
//     takes the next number past it, so it never blocks delivery. A
//     folder cannot be created where a message of that number is
//     (ErrBadName: IMAP NO [CANNOT]).
//   - Every file is reached through the store's safefs.Dir (see package
//     folder): a folder that is a link is none (ErrNotFound), a message
//     number that is a link or anything but a regular file is not listed
//     and does not open (ErrGone). A .mh_sequences that is a link (hard
//     or symbolic) is neither read nor written in place: a new file
//     replaces it. The noselect marker is a new file renamed into place.
package mh
