// Package atomicfile writes files so that a reader, or a process started
// after a crash or a power loss, sees the old content or the new content,
// never a mix: write a temporary file beside the target, fsync it, rename
// it over the target, fsync the folder.
package atomicfile
