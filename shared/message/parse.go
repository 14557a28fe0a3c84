package message

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/moatmail/moat/shared/archive"
	"github.com/moatmail/moat/shared/filetype"
)

// Defaults for zero Options fields.
const (
	DefaultMaxHeaderBytes = 1 << 20
	DefaultMaxTextBytes   = 1 << 20
	DefaultMaxMIMEDepth   = 50
	DefaultMaxArchive     = 50 << 20
	DefaultMaxParts       = 10000
)

const (
	readBufSize = 16 << 10 // bufio size; longer lines are handled in fragments
	maxBoundary = 200      // RFC 2046 allows 70; longer ones are not real
	keepMax     = 256 << 10
)

func (o Options) withDefaults() Options {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = DefaultMaxTextBytes
	}
	if o.MaxMIMEDepth <= 0 {
		o.MaxMIMEDepth = DefaultMaxMIMEDepth
	}
	if o.MaxArchive <= 0 {
		o.MaxArchive = DefaultMaxArchive
	}
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	return o
}

// Parse reads a message from r to its end and parses it. It streams: memory stays bounded
// whatever the message size, except that an archive attachment's decoded bytes (at most
// Options.MaxArchive) are held for inspection. It is safe for concurrent use.
//
// Parse returns an error only when reading r fails. Malformed content is not an error: it is
// recorded in Message.Defects, and Message.Unscannable says when the message could not be
// parsed well enough to scan.
func Parse(r io.Reader, opts Options) (*Message, error) {
	st := statePool.Get().(*state)
	st.reset(opts.withDefaults())
	st.cr = countingReader{r: r}
	p := getParser(st, &st.cr)
	p.top()
	p.drain()
	putParser(p)

	msg, err := st.msg, st.err
	msg.Size = st.cr.n
	if len(st.text) > 0 {
		msg.Text = string(st.text)
	}
	st.release()
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return msg, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// state is one parse: the message being built and the buffers shared by its parsers.
type state struct {
	opts Options
	msg  *Message
	err  error // first read error
	cr   countingReader
	lf   leaf   // the leaf part being read (one at a time)
	text []byte // Message.Text so far
	cbuf []byte // charset conversion scratch
}

var statePool = sync.Pool{New: func() any { return new(state) }}

func (st *state) reset(opts Options) {
	st.opts = opts
	st.msg = &Message{}
	st.err = nil
	st.text = st.text[:0]
}

func (st *state) release() {
	st.msg, st.err, st.cr = nil, nil, countingReader{}
	st.text = trimBuf(st.text)
	st.cbuf = trimBuf(st.cbuf)
	st.lf.tbuf = trimBuf(st.lf.tbuf)
	st.lf.abuf = nil
	statePool.Put(st)
}

// trimBuf empties b, dropping it when it grew too large to keep in a pool.
func trimBuf(b []byte) []byte {
	if cap(b) > keepMax {
		return nil
	}
	return b[:0]
}

// leaf streams one leaf part: it counts the decoded bytes, keeps the head for type detection,
// collects text for text parts and buffers archives.
type leaf struct {
	part     Part
	head     [filetype.HeadSize]byte
	n        int // bytes in head
	detected bool
	kind     int // 0 not text, 1 text/plain, 2 text/html
	tmax     int // text collected at most
	tbuf     []byte
	arch     bool // an archive: buffer it
	over     bool // archive larger than Options.MaxArchive
	amax     int64
	abuf     []byte
}

func (l *leaf) start(in *partInfo, depth int, st *state) {
	l.part = Part{
		ContentType: in.mediaType,
		Charset:     in.charset,
		Filename:    in.filename,
		Attachment:  in.attachment,
		Depth:       depth,
	}
	l.n, l.detected, l.arch, l.over = 0, false, false, false
	l.kind = in.textKind()
	l.tbuf = l.tbuf[:0]
	l.tmax = 0
	if l.kind != 0 {
		room := st.opts.MaxTextBytes - len(st.text)
		if l.kind == 2 {
			room *= 4 // markup takes room
		}
		l.tmax = max(room, 0)
	}
	l.amax = st.opts.MaxArchive
	l.abuf = l.abuf[:0]
}

func (l *leaf) write(b []byte) {
	l.part.Size += int64(len(b))
	if len(l.tbuf) < l.tmax {
		room := l.tmax - len(l.tbuf)
		if len(b) > room {
			l.tbuf = append(l.tbuf, b[:room]...)
		} else {
			l.tbuf = append(l.tbuf, b...)
		}
	}
	if !l.detected {
		k := copy(l.head[l.n:], b)
		l.n += k
		if l.n < len(l.head) {
			return
		}
		l.detect()
		b = b[k:]
	}
	if l.arch && !l.over && len(b) > 0 {
		if int64(len(l.abuf)+len(b)) > l.amax {
			l.over = true
			l.abuf = nil
			return
		}
		l.abuf = append(l.abuf, b...)
	}
}

func (l *leaf) detect() {
	l.detected = true
	l.part.Type = filetype.Detect(l.head[:l.n])
	if isArchive(l.part.Type) {
		l.arch = true
		if int64(l.n) > l.amax {
			l.over = true
			return
		}
		l.abuf = append(l.abuf[:0], l.head[:l.n]...)
	}
}

// isArchive reports whether parts of type t are inspected as archives (OOXML is a zip).
func isArchive(t filetype.Type) bool { return t.Archive() || t == filetype.OOXML }

// commit records the leaf part just read.
func (st *state) commit() {
	l := &st.lf
	if !l.detected {
		l.detect()
	}
	if len(st.msg.Parts) >= st.opts.MaxParts {
		st.unscannable(DefectTooManyParts)
		return
	}
	part := l.part
	if l.arch {
		var rep archive.Report
		if l.over {
			rep = archive.Report{Format: part.Type, Exceeded: []archive.Limit{archive.LimitBytes}}
		} else {
			rep = archive.Inspect(l.abuf, part.Type, st.opts.Archive)
			if rep.Format == filetype.OOXML { // a zip that is an Office document
				part.Type = filetype.OOXML
			}
		}
		part.Archive = &rep
		if cap(l.abuf) > keepMax {
			l.abuf = nil
		}
	}
	st.msg.Parts = append(st.msg.Parts, part)
	if l.kind != 0 {
		st.addText(l.kind == 2, part.Charset, l.tbuf, len(l.tbuf) == l.tmax)
	}
}

// parser reads one byte stream: the message, or the decoded content of an encoded
// message/rfc822 entity.
//
// The MIME structure is read with one line scanner and a stack of the open multiparts'
// boundaries, not with mime/multipart: that gives up on a part whose header has a line
// without a colon, and on every part after it, which would let a sender hide an attachment
// that mail clients still show; it also needs a reader per nesting level. A line is checked
// against every open boundary, innermost first, so a part missing its closing delimiter ends
// at its parent's next one.
type parser struct {
	st      *state
	br      *bufio.Reader
	atStart bool // the next fragment starts a line
	start   bool // the current fragment starts a line
	full    bool // the current fragment ends with "\n"
	eof     bool
	bounds  [][]byte // active multipart boundaries, outermost first
	hbuf    []byte   // header section being read: names and unfolded values
	refs    []fieldRef
	params  []param
	tmp     []byte
	dbuf    []byte // decoded line
}

// fieldRef locates one field's name and value in parser.hbuf.
type fieldRef struct{ ns, ne, vs, ve int }

var parserPool = sync.Pool{New: func() any {
	return &parser{br: bufio.NewReaderSize(nil, readBufSize)}
}}

func getParser(st *state, r io.Reader) *parser {
	p := parserPool.Get().(*parser)
	p.st = st
	p.br.Reset(r)
	p.atStart, p.start, p.full, p.eof = true, false, false, false
	p.bounds = p.bounds[:0]
	return p
}

func putParser(p *parser) {
	p.st = nil
	p.br.Reset(nil)
	p.hbuf = trimBuf(p.hbuf)
	p.tmp = trimBuf(p.tmp)
	p.dbuf = trimBuf(p.dbuf)
	p.refs = p.refs[:0]
	p.params = p.params[:0]
	parserPool.Put(p)
}

// next returns the next line, or the next fragment of a line longer than the buffer; ok is
// false at the end of input (or after a read error, which is recorded).
func (p *parser) next() (line []byte, ok bool) {
	if p.eof {
		return nil, false
	}
	line, err := p.br.ReadSlice('\n')
	p.start = p.atStart
	p.full = err == nil
	p.atStart = p.full
	if err != nil && err != bufio.ErrBufferFull {
		p.eof = true
		if err != io.EOF && p.st.err == nil {
			p.st.err = err
		}
		if len(line) == 0 {
			return nil, false
		}
	}
	return line, true
}

// drain reads to the end of input.
func (p *parser) drain() {
	for {
		if _, ok := p.next(); !ok {
			return
		}
	}
}

// term is what ended an entity: a boundary delimiter (an index into parser.bounds, and
// whether it was the closing one) or the end of input (idx -1).
type term struct {
	idx     int
	closing bool
}

var eofTerm = term{idx: -1}

// boundary reports whether line is a delimiter line of an active multipart, innermost first.
func (p *parser) boundary(line []byte) (term, bool) {
	if !p.start || len(p.bounds) == 0 || len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return term{}, false
	}
	rest := line[2:]
	for i := len(p.bounds) - 1; i >= 0; i-- {
		b := p.bounds[i]
		if !bytes.HasPrefix(rest, b) {
			continue
		}
		tail := rest[len(b):]
		closing := len(tail) >= 2 && tail[0] == '-' && tail[1] == '-'
		if closing {
			tail = tail[2:]
		}
		if len(bytes.TrimLeft(tail, " \t\r\n")) == 0 {
			for !p.full { // the rest of an overlong delimiter line
				if _, ok := p.next(); !ok {
					break
				}
			}
			return term{idx: i, closing: closing}, true
		}
	}
	return term{}, false
}

func (p *parser) push(b []byte) {
	n := len(p.bounds)
	if n < cap(p.bounds) {
		p.bounds = p.bounds[:n+1]
		p.bounds[n] = append(p.bounds[n][:0], b...)
		return
	}
	p.bounds = append(p.bounds, append([]byte(nil), b...))
}

func (p *parser) pop() { p.bounds = p.bounds[:len(p.bounds)-1] }

// hdrEnd is how a header section ended.
type hdrEnd int

const (
	hdrBlank    hdrEnd = iota // the blank line: a body follows
	hdrEOF                    // end of input
	hdrBoundary               // a boundary delimiter: the entity has no body
	hdrTooLarge               // top level: over Options.MaxHeaderBytes
	hdrNone                   // top level: the first line is not a header field
)

// readHeader reads a header section into p.hbuf and p.refs. A part's header section over the
// limit makes the message unscannable and is read on without being kept.
func (p *parser) readHeader(top bool) (hdrEnd, term) {
	p.hbuf, p.refs = p.hbuf[:0], p.refs[:0]
	limit := p.st.opts.MaxHeaderBytes
	var size int64
	open := false // the last field may still be continued
	skip := false // the current line is being skipped
	over := false
	first := top
	for {
		line, ok := p.next()
		if !ok {
			p.closeField(open)
			return hdrEOF, eofTerm
		}
		size += int64(len(line))
		if size > limit && !over {
			p.closeField(open)
			open = false
			if top {
				return hdrTooLarge, eofTerm
			}
			p.st.unscannable(DefectHeaderTooLarge)
			over = true
		}
		if !p.start { // the rest of a long line
			if open && !skip && !over {
				p.appendValue(line)
			}
			continue
		}
		if t, ok := p.boundary(line); ok {
			p.closeField(open)
			return hdrBoundary, t
		}
		if len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n' {
			p.closeField(open)
			return hdrBlank, term{}
		}
		if over {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if open {
				p.appendValue(line)
				skip = false
			} else {
				p.st.defect(DefectHeaderContinuation)
				skip = true
			}
			continue
		}
		p.closeField(open)
		open, skip = false, true
		if first && bytes.HasPrefix(line, []byte("From ")) { // an mbox separator
			first = false
			continue
		}
		first = false
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validName(bytes.TrimRight(line[:colon], " \t")) {
			if top && len(p.refs) == 0 {
				return hdrNone, term{}
			}
			p.st.defect(DefectHeaderNoColon)
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		r := fieldRef{ns: len(p.hbuf)}
		p.hbuf = append(p.hbuf, name...)
		r.ne = len(p.hbuf)
		r.vs = r.ne
		p.refs = append(p.refs, r)
		v := line[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		if len(v) > 0 {
			p.appendValue(v)
		}
		open, skip = true, false
	}
}

// appendValue appends a line (or fragment) of the open field's value, without its line break.
func (p *parser) appendValue(line []byte) {
	if p.full {
		line, _ = splitBreak(line)
	}
	p.hbuf = append(p.hbuf, line...)
}

// closeField ends the last field: trailing white space goes, and a value that is not UTF-8
// is read as Latin-1.
func (p *parser) closeField(open bool) {
	if !open || len(p.refs) == 0 {
		return
	}
	r := &p.refs[len(p.refs)-1]
	v := bytes.TrimRight(p.hbuf[r.vs:], " \t\r\n")
	p.hbuf = p.hbuf[:r.vs+len(v)]
	if !utf8.Valid(v) {
		p.tmp = append(p.tmp[:0], v...)
		p.hbuf = appendLatin1(p.hbuf[:r.vs], p.tmp)
	}
	r.ve = len(p.hbuf)
}

// validName reports whether name is a field name: printable ASCII without colon (RFC 5322).
func validName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// top parses the whole message.
func (p *parser) top() {
	st := p.st
	end, _ := p.readHeader(true)
	st.setHeader(p)
	switch {
	case len(p.refs) == 0:
		st.unscannable(DefectNoHeader)
		return
	case end == hdrTooLarge:
		st.unscannable(DefectHeaderTooLarge)
		return
	}
	var in partInfo
	p.info(&in, "text/plain")
	if end != hdrBlank {
		p.empty(&in, 0)
		return
	}
	p.entity(&in, 0)
}

// setHeader fills the message's header and the fields derived from it.
func (st *state) setHeader(p *parser) {
	if len(p.refs) == 0 {
		return
	}
	s := string(p.hbuf)
	h := make(Header, len(p.refs))
	for i, r := range p.refs {
		h[i] = Field{Name: s[r.ns:r.ne], Value: s[r.vs:r.ve]}
	}
	m := st.msg
	m.Header = h
	m.Subject = DecodeWords(h.Get("Subject"))
	m.MessageID = messageID(h.Get("Message-ID"))
	m.ClientIP = clientIP(h)
	for _, f := range h {
		var dst *[]Address
		switch {
		case strings.EqualFold(f.Name, "From"):
			if m.From.Addr != "" {
				continue
			}
			list := st.addresses(f.Value)
			if len(list) > 0 {
				m.From = list[0]
			}
			continue
		case strings.EqualFold(f.Name, "Reply-To"):
			dst = &m.ReplyTo
		case strings.EqualFold(f.Name, "To"):
			dst = &m.To
		case strings.EqualFold(f.Name, "Cc"):
			dst = &m.Cc
		default:
			continue
		}
		*dst = append(*dst, st.addresses(f.Value)...)
	}
}

func (st *state) addresses(v string) []Address {
	list, bad := addresses(v)
	if bad {
		st.defect(DefectBadAddress)
	}
	return list
}

// entity parses the body of an entity described by in, at depth, and returns what ended it.
func (p *parser) entity(in *partInfo, depth int) term {
	switch {
	case in.multipart():
		return p.multipart(in, depth)
	case in.message():
		return p.embedded(in, depth)
	}
	t := p.body(in, depth)
	p.st.commit()
	return t
}

// empty records an entity that has no body.
func (p *parser) empty(in *partInfo, depth int) {
	if in.multipart() || in.message() {
		return
	}
	p.st.lf.start(in, depth, p.st)
	p.st.commit()
}

// body streams a leaf part's content into the leaf until a boundary or the end of input.
// The caller commits it (or, for a preamble, may not).
func (p *parser) body(in *partInfo, depth int) term {
	st := p.st
	st.lf.start(in, depth, st)
	d := decoder{kind: in.cte}
	t := eofTerm
	for {
		line, ok := p.next()
		if !ok {
			break
		}
		if bt, ok := p.boundary(line); ok {
			t = bt
			break
		}
		p.dbuf = d.decode(p.dbuf[:0], line, p.full)
		if len(p.dbuf) > 0 {
			st.lf.write(p.dbuf)
		}
	}
	p.dbuf = d.finish(p.dbuf[:0], t.idx < 0)
	if len(p.dbuf) > 0 {
		st.lf.write(p.dbuf)
	}
	st.decodeDefect(&d)
	return t
}

func (st *state) decodeDefect(d *decoder) {
	if !d.bad {
		return
	}
	if d.kind == cteBase64 {
		st.defect(DefectBadBase64)
	} else {
		st.defect(DefectBadQuotedPrintable)
	}
}

// skip reads lines until a boundary or the end of input.
func (p *parser) skip() term {
	for {
		line, ok := p.next()
		if !ok {
			return eofTerm
		}
		if t, ok := p.boundary(line); ok {
			return t
		}
	}
}

// multipart parses a multipart body: preamble, parts, epilogue.
func (p *parser) multipart(in *partInfo, depth int) term {
	st := p.st
	if len(in.boundary) == 0 || len(in.boundary) > maxBoundary {
		if len(in.boundary) == 0 {
			st.defect(DefectMissingBoundary)
		} else {
			st.defect(DefectBadBoundary)
		}
		in.mediaType = "text/plain"
		t := p.body(in, depth)
		st.commit()
		return t
	}
	if depth+1 > st.opts.MaxMIMEDepth {
		st.unscannable(DefectMIMEDepth)
		return p.skip()
	}
	if in.cte != cteRaw {
		// Mail clients ignore a transfer encoding on a multipart (RFC 2045 forbids one).
		st.defect(DefectEncodedContainer)
	}
	self := len(p.bounds)
	p.push(in.boundary)
	// The preamble is read as a text part, kept only if the boundary never comes.
	pre := partInfo{mediaType: "text/plain", charset: in.charset}
	t := p.body(&pre, depth)
	if t.idx != self {
		p.pop()
		st.defect(DefectMissingBoundary)
		st.commit()
		return t
	}
	def := "text/plain"
	if in.mediaType == "multipart/digest" {
		def = "message/rfc822"
	}
	for !t.closing {
		end, ht := p.readHeader(false)
		var child partInfo
		p.info(&child, def)
		if end == hdrBlank {
			t = p.entity(&child, depth+1)
		} else {
			p.empty(&child, depth+1)
			t = ht
		}
		if t.idx != self {
			p.pop()
			st.defect(DefectUnterminatedMultipart)
			return t
		}
	}
	p.pop()
	return p.skip() // the epilogue
}

// embedded parses a message/rfc822 entity's body as a message one level deeper.
func (p *parser) embedded(in *partInfo, depth int) term {
	st := p.st
	if depth+1 > st.opts.MaxMIMEDepth {
		st.unscannable(DefectMIMEDepth)
		return p.skip()
	}
	if in.cte != cteRaw {
		st.defect(DefectEncodedContainer)
		return p.decoded(in, depth)
	}
	if p.notMessage() {
		st.defect(DefectNotMessage)
		t := p.body(in, depth)
		st.commit()
		return t
	}
	end, t := p.readHeader(false)
	var inner partInfo
	p.info(&inner, "text/plain")
	if end != hdrBlank {
		p.empty(&inner, depth+1)
		return t
	}
	return p.entity(&inner, depth+1)
}

// notMessage reports whether the entity about to be read, declared message/rfc822, is really
// a file: its first line is not a header field and its head has a file signature. Scanned as a
// message, a zip so labelled would escape archive inspection.
func (p *parser) notMessage() bool {
	head, _ := p.br.Peek(filetype.HeadSize)
	line := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		line = head[:i]
	}
	if colon := bytes.IndexByte(line, ':'); colon > 0 && validName(bytes.TrimRight(line[:colon], " \t")) {
		return false
	}
	switch filetype.Detect(head) {
	case filetype.Text, filetype.HTML, filetype.Unknown:
		return false
	}
	return true
}

// decoded parses a base64 or quoted-printable message/rfc822 entity (a client saving the
// attachment decodes it) by running a second parser over its decoded content.
func (p *parser) decoded(in *partInfo, depth int) term {
	s := &stream{p: p, d: decoder{kind: in.cte}}
	q := getParser(p.st, s)
	inner := *in
	inner.cte = cteRaw
	q.embedded(&inner, depth)
	q.drain()
	putParser(q)
	p.st.decodeDefect(&s.d)
	return s.t
}

// stream is the decoded content of the current entity of p, up to its boundary.
type stream struct {
	p    *parser
	d    decoder
	buf  []byte
	off  int
	done bool
	t    term
}

func (s *stream) Read(b []byte) (int, error) {
	for s.off == len(s.buf) {
		if s.done {
			return 0, io.EOF
		}
		s.buf, s.off = s.buf[:0], 0
		line, ok := s.p.next()
		if !ok {
			s.done, s.t = true, eofTerm
			s.buf = s.d.finish(s.buf, true)
			continue
		}
		if t, ok := s.p.boundary(line); ok {
			s.done, s.t = true, t
			s.buf = s.d.finish(s.buf, false)
			continue
		}
		s.buf = s.d.decode(s.buf, line, s.p.full)
	}
	n := copy(b, s.buf[s.off:])
	s.off += n
	return n, nil
}
