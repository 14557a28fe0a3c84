package classify

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// Model is a naive Bayes token model: how many spam and ham messages were learned, and for
// each token in how many of each it appeared. Counts only add up, so models trained apart
// merge exactly (Merge), which is what lets concurrent trainings keep every count.
//
// A Model is safe for concurrent Prob calls; Learn, Forget and Merge need exclusive use.
type Model struct {
	Spam, Ham uint32 // messages learned
	counts    map[uint32]counts
}

type counts struct{ spam, ham uint32 }

// NewModel returns an empty model.
func NewModel() *Model { return &Model{counts: map[uint32]counts{}} }

// Tokens returns how many distinct tokens the model knows.
func (m *Model) Tokens() int { return len(m.counts) }

// Learn adds one message's tokens (from Tokens) as spam or ham.
func (m *Model) Learn(tokens []uint32, spam bool) {
	if spam {
		m.Spam++
	} else {
		m.Ham++
	}
	for _, t := range tokens {
		c := m.counts[t]
		if spam {
			c.spam++
		} else {
			c.ham++
		}
		m.counts[t] = c
	}
}

// Forget removes a message learned before with the same tokens and label (a release from
// quarantine of a message once learned as spam, for instance). Counts never go below zero.
func (m *Model) Forget(tokens []uint32, spam bool) {
	dec := func(v *uint32) {
		if *v > 0 {
			*v--
		}
	}
	if spam {
		dec(&m.Spam)
	} else {
		dec(&m.Ham)
	}
	for _, t := range tokens {
		c, ok := m.counts[t]
		if !ok {
			continue
		}
		if spam {
			dec(&c.spam)
		} else {
			dec(&c.ham)
		}
		if c.spam == 0 && c.ham == 0 {
			delete(m.counts, t)
		} else {
			m.counts[t] = c
		}
	}
}

// Merge adds o's counts to m.
func (m *Model) Merge(o *Model) {
	m.Spam += o.Spam
	m.Ham += o.Ham
	for t, oc := range o.counts {
		c := m.counts[t]
		c.spam += oc.spam
		c.ham += oc.ham
		m.counts[t] = c
	}
}

// Robinson's parameters and the clue selection of SpamBayes, which measured them.
const (
	strength    = 0.45 // s: weight of the prior belief
	prior       = 0.5  // x: a token's spamminess with no data
	minStrength = 0.1  // clues must be at least this far from 0.5
	maxClues    = 700
)

type clue struct {
	f, dist float64
}

// Prob returns the probability-like spam score in [0, 1] of a message with these tokens:
// Gary Robinson's per-token estimate f(w) = (s·x + n·p(w)) / (s + n) and Fisher's
// chi-squared combining of the up to 150 strongest clues, as SpamBayes does. Scores near 0
// are ham, near 1 spam, near 0.5 unsure. An empty model gives 0.5.
func (m *Model) Prob(tokens []uint32) float64 {
	if m == nil || m.Spam == 0 || m.Ham == 0 {
		return 0.5
	}
	var buf [1024]clue
	clues := buf[:0]
	ns, nh := float64(m.Spam), float64(m.Ham)
	for _, t := range tokens {
		c, ok := m.counts[t]
		if !ok {
			continue
		}
		sr := float64(c.spam) / ns
		hr := float64(c.ham) / nh
		if sr > 1 {
			sr = 1
		}
		if hr > 1 {
			hr = 1
		}
		p := sr / (sr + hr)
		n := float64(c.spam + c.ham)
		f := (strength*prior + n*p) / (strength + n)
		if d := math.Abs(f - 0.5); d >= minStrength {
			clues = append(clues, clue{f, d})
		}
	}
	if len(clues) > maxClues {
		slices.SortFunc(clues, func(a, b clue) int {
			switch {
			case a.dist > b.dist:
				return -1
			case a.dist < b.dist:
				return 1
			}
			return 0
		})
		clues = clues[:maxClues]
	}
	if len(clues) == 0 {
		return 0.5
	}
	var lnS, lnH float64
	for _, c := range clues {
		lnS += math.Log(1 - c.f)
		lnH += math.Log(c.f)
	}
	k := 2 * len(clues)
	s := 1 - chi2Q(-2*lnS, k)
	h := 1 - chi2Q(-2*lnH, k)
	return (s - h + 1) / 2
}

// chi2Q is the probability that a chi-squared variable with v (even) degrees of freedom is
// at least x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	sum := math.Exp(-m)
	term := sum
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}

// The serialised form: magic, version, then gzip of uvarint fields: spam, ham, token count,
// and per token in ascending order the hash's delta from the previous one, the spam count
// and the ham count; then a CRC-32 (IEEE) of the uncompressed fields.
const (
	magic   = "MOATNB"
	version = 1
)

// ErrFormat reports a model file that is not one, or is damaged.
var ErrFormat = errors.New("not a Moat spam model or damaged")

// MarshalBinary encodes the model compactly (a few bytes per token).
func (m *Model) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(magic)
	buf.WriteByte(version)
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	crc := crc32.NewIEEE()
	w := bufio.NewWriter(io.MultiWriter(zw, crc))
	var tmp [binary.MaxVarintLen64]byte
	put := func(v uint64) { w.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	put(uint64(m.Spam))
	put(uint64(m.Ham))
	keys := make([]uint32, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	put(uint64(len(keys)))
	prev := uint32(0)
	for _, k := range keys {
		c := m.counts[k]
		put(uint64(k - prev))
		put(uint64(c.spam))
		put(uint64(c.ham))
		prev = k
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	zw.Write(sum[:])
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UnmarshalModel decodes what MarshalBinary wrote.
func UnmarshalModel(data []byte) (*Model, error) {
	if len(data) < len(magic)+1 || string(data[:len(magic)]) != magic {
		return nil, ErrFormat
	}
	if v := data[len(magic)]; v != version {
		return nil, fmt.Errorf("spam model version %d: this program reads version %d", v, version)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data[len(magic)+1:]))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 1<<30))
	if err != nil || len(raw) < 4 {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	body, sum := raw[:len(raw)-4], binary.BigEndian.Uint32(raw[len(raw)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrFormat)
	}
	r := bytes.NewReader(body)
	get := func() uint64 {
		v, e := binary.ReadUvarint(r)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	m := &Model{Spam: uint32(get()), Ham: uint32(get())}
	n := get()
	if err != nil || n > uint64(len(body)) {
		return nil, fmt.Errorf("%w: bad header", ErrFormat)
	}
	m.counts = make(map[uint32]counts, n)
	prev := uint32(0)
	for range n {
		k := prev + uint32(get())
		m.counts[k] = counts{uint32(get()), uint32(get())}
		prev = k
	}
	if err != nil || r.Len() != 0 {
		return nil, fmt.Errorf("%w: truncated token table", ErrFormat)
	}
	return m, nil
}
