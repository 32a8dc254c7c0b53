// Package doctest runs the console examples of the README and of the pages
// under docs/ as a user types them, and compares what they print with what
// the page shows.
//
// A page is read top to bottom as one session in a fresh folder and home:
//
//   - a block whose first line starts with `$ ` is a session: each command runs
//     in bash (continued lines joined), in order, the output that follows it
//     on the page is what it must print, and it must exit 0 unless the next
//     command reads `$?`;
//   - `<!-- file: PATH -->` on the line above a block writes the block to
//     PATH in the session's folder, for the commands after it;
//   - `<!-- not run: WHY -->` above a session leaves it out, and says why;
//   - `<!-- ports: 8080 9090 -->` names fixed ports the page's examples
//     listen on: the test gives each a free port (`:8080` in files and
//     commands), so that the page runs beside other tests.
//
// What a session starts in the background (`upshift gateway … &`) lives
// until the page ends, and local clusters it brought up are removed then.
//
// Output is compared line by line, with runs of spaces as one (tables
// realign when a value's width changes). A line `...` or `…` stands for
// any lines. What differs from run to run and only that is matched
// loosely: durations (6.3s, 1m08s, 440µs), rates (2781 req/s), times and
// dates, the timestamps in generated run names, local ports
// (127.0.0.1:PORT), the home folder (shown as ~ or /root) and the user
// (root, "as root" and "by root"). Everything else, versions and counts
// included, is matched as written.
package doctest
