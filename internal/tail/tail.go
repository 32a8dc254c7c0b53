package tail

// Buffer keeps the last Max bytes written to it.
type Buffer struct {
	Max     int
	buf     []byte
	dropped bool
}

// Write keeps the end of p; it never fails.
func (t *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.Max {
		p, t.dropped = p[len(p)-t.Max:], true
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.Max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.dropped = true
	}
	return n, nil
}

// String is what was kept, led by "…" when the start was dropped.
func (t *Buffer) String() string {
	if t.dropped {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}
