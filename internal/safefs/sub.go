package safefs

import (
	"io/fs"
	"runtime"

	"golang.org/x/sys/unix"
)

// Sub opens the directory name beneath d as a Dir of its own, resolved
// as every other name is (no link at any component, nothing outside d).
// Walking a tree level by level through Sub never resolves a path from
// the top again, so a directory swapped for a link between two levels
// cannot redirect the walk: the descriptor already held is the one read.
func (d *Dir) Sub(name string) (*Dir, error) {
	var fd int
	err := d.as(func() (err error) { fd, err = d.open(name, unix.O_RDONLY|unix.O_DIRECTORY, 0); return err })
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: d.Join(name), Err: err}
	}
	sub := &Dir{fd: fd, path: d.Join(name), uid: st.Uid, own: d.own, cred: d.cred}
	sub.cleanup = runtime.AddCleanup(sub, func(fd int) { unix.Close(fd) }, fd)
	return sub, nil
}

// WalkDirs calls fn for d's directory tree, depth first in the order the
// file system lists it: for each directory rel ("" for d itself, then
// "a", "a/b" …) with its entries. fn says whether to descend into a
// child directory; maxDepth bounds the levels below d (a tree deeper
// than that is cut there, not an error). Each level is opened relative
// to its parent's descriptor (Sub), so no link is followed and no path
// is resolved twice; a directory that vanishes mid-walk is skipped.
func (d *Dir) WalkDirs(maxDepth int, fn func(rel string, entries []Entry) (descend func(Entry) bool, err error)) error {
	return d.walkDirs("", maxDepth, fn)
}

func (d *Dir) walkDirs(rel string, depth int, fn func(string, []Entry) (func(Entry) bool, error)) error {
	ents, err := d.ReadDir("")
	if err != nil {
		return err
	}
	descend, err := fn(rel, ents)
	if err != nil || depth <= 0 || descend == nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() && !e.Unknown() || !descend(e) {
			continue
		}
		sub, err := d.Sub(e.Name)
		if err != nil {
			// Gone, a link, or not a directory after all (DT_UNKNOWN):
			// not part of the tree.
			continue
		}
		child := e.Name
		if rel != "" {
			child = rel + "/" + e.Name
		}
		err = sub.walkDirs(child, depth-1, fn)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
