package mdfile

// Abandon closes the file without publishing anything more: the writer
// above failed, so the last published tick must stay as it is, for
// recovery. (Close would publish "closed", claiming a complete data file.)
func (w *Writer) Abandon() {
	if w.closed {
		return
	}
	w.closed = true
	w.f.Close()
}
