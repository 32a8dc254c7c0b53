package haproxy

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// sections are the keywords that start a section of HAProxy's
// configuration.
var sections = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"resolvers": true, "peers": true, "userlist": true, "program": true, "http-errors": true,
	"ring": true, "cache": true, "mailers": true, "fcgi-app": true, "crt-store": true,
	"log-forward": true, "traces": true,
}

// rewriteServers makes each given backend's server lines in an HAProxy
// configuration say the servers given, as HAProxy runs them: a server
// already declared keeps its line and options, with its address, weight
// and maintenance updated; a new one gets the line newLine writes; a
// server no longer there loses its line. Everything else is kept byte for
// byte. A backend the configuration does not declare is an error.
func rewriteServers(conf string, backends map[string][]server, newLine func(server) string) (string, error) {
	lines := strings.SplitAfter(conf, "\n")
	type section struct{ start, end int }
	found := map[string]section{}
	cur := ""
	for i, line := range lines {
		f := strings.Fields(stripComment(line))
		if len(f) == 0 || !sections[f[0]] {
			continue
		}
		if cur != "" {
			s := found[cur]
			s.end = i
			found[cur] = s
			cur = ""
		}
		if (f[0] == "backend" || f[0] == "listen") && len(f) > 1 {
			if _, ok := backends[f[1]]; ok {
				cur = f[1]
				found[cur] = section{start: i, end: len(lines)}
			}
		}
	}
	for name := range backends {
		if _, ok := found[name]; !ok {
			return "", fmt.Errorf("the configuration declares no backend %q", name)
		}
	}
	// A new server line is indented as the section's server lines are, or
	// its other lines, or the file's first server line.
	fileIndent := "    "
	for _, line := range lines {
		f := strings.Fields(stripComment(line))
		if len(f) > 0 && f[0] == "server" {
			fileIndent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			break
		}
	}
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		name, in := "", false
		for n, s := range found {
			if i == s.start {
				name, in = n, true
			}
		}
		if !in {
			out.WriteString(lines[i])
			continue
		}
		s := found[name]
		want := map[string]server{}
		for _, sv := range backends[name] {
			want[sv.Name] = sv
		}
		indent, fromServer, last := fileIndent, false, 0
		var body []string
		for j := s.start; j < s.end; j++ {
			line := lines[j]
			f := strings.Fields(stripComment(line))
			if j > s.start && len(f) >= 3 && f[0] == "server" {
				sv, keep := want[f[1]]
				if !keep {
					continue
				}
				delete(want, f[1])
				line = editServer(line, sv)
			}
			body = append(body, line)
			if len(f) == 0 {
				continue
			}
			last = len(body) - 1
			if j > s.start && !fromServer {
				indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
				fromServer = f[0] == "server"
			}
		}
		var added []string
		for _, sv := range backends[name] {
			if _, ok := want[sv.Name]; ok {
				added = append(added, indent+newLine(sv)+"\n")
			}
		}
		if len(added) > 0 && !strings.HasSuffix(body[last], "\n") {
			body[last] += "\n"
		}
		body = append(body[:last+1], append(added, body[last+1:]...)...)
		for _, l := range body {
			out.WriteString(l)
		}
		i = s.end - 1
	}
	return out.String(), nil
}

// stripComment drops a line's comment (HAProxy's # outside quotes; the
// lines edited here hold no quoted #).
func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// editServer rewrites a server line's address, weight and forced
// maintenance, keeping its indentation, other options and comment.
func editServer(line string, sv server) string {
	body, comment := line, ""
	if i := strings.IndexByte(line, '#'); i >= 0 {
		body, comment = line[:i], line[i:]
	}
	nl := ""
	if strings.HasSuffix(comment, "\n") || (comment == "" && strings.HasSuffix(body, "\n")) {
		nl = "\n"
		comment = strings.TrimSuffix(comment, "\n")
		body = strings.TrimSuffix(body, "\n")
	}
	indent := body[:len(body)-len(strings.TrimLeft(body, " \t"))]
	f := strings.Fields(body)
	out := []string{f[0], f[1], address(sv)}
	for i := 3; i < len(f); i++ {
		switch f[i] {
		case "weight":
			i++
		case "disabled", "enabled":
		default:
			out = append(out, f[i])
		}
	}
	out = append(out, "weight", strconv.Itoa(sv.Weight))
	if sv.Admin&adminForcedMaint != 0 {
		out = append(out, "disabled")
	}
	line = indent + strings.Join(out, " ")
	if comment != "" {
		line += " " + comment
	}
	return line + nl
}

// address is a server's address as a configuration writes it.
func address(sv server) string {
	return net.JoinHostPort(sv.Addr, strconv.Itoa(sv.Port))
}
