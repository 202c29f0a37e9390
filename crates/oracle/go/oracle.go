// Command oracle checks service-fs ledgers with Go's golang.org/x/mod/sumdb
// tlog and note packages, an implementation independent of ours, and
// produces notes and proofs for our code to check.
//
//	oracle check DIR VERIFIER_KEY PROOFS.jsonl   check a tlog-tiles directory
//	oracle gen N                                  a signed log and proofs, as JSON
//	oracle bench SIZE COUNT RUNS                  time tlog.StoredHashes per record
//	oracle proofbench DIR VERIFIER_KEY COUNT      time proofs over a directory's tiles
//	oracle open VERIFIER_KEY NOTE                 verify a signed checkpoint note
//	oracle cosigned VERIFIER_KEY WITNESS_KEY NOTE  also a cosignature/v1 on it
//
// Built in GOPATH mode against Debian's golang-golang-x-mod-dev.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 5 && os.Args[1] == "check":
		err = check(os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) == 3 && os.Args[1] == "gen":
		err = gen(os.Args[2])
	case len(os.Args) == 5 && os.Args[1] == "bench":
		err = bench(os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) == 5 && os.Args[1] == "proofbench":
		err = proofbench(os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) == 4 && os.Args[1] == "open":
		err = open(os.Args[2], os.Args[3])
	case len(os.Args) == 5 && os.Args[1] == "cosigned":
		err = cosigned(os.Args[2], os.Args[3], os.Args[4])
	default:
		err = fmt.Errorf("usage: oracle check DIR VKEY PROOFS | gen N | bench SIZE COUNT RUNS | proofbench DIR VKEY COUNT | open VKEY NOTE | cosigned VKEY WKEY NOTE")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "oracle:", err)
		os.Exit(1)
	}
}

// memory holds every stored hash, in tlog's stored-hash order.
type memory struct{ hashes []tlog.Hash }

func (m *memory) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memory) add(n int64, data []byte) error {
	hs, err := tlog.StoredHashes(n, data, m)
	if err != nil {
		return err
	}
	m.hashes = append(m.hashes, hs...)
	return nil
}

func (m *memory) root(size int64) (tlog.Hash, error) {
	if size == 0 {
		// RFC 6962 MTH({}); Go's TreeHash returns the zero hash instead.
		return sha256.Sum256(nil), nil
	}
	return tlog.TreeHash(size, m)
}

// c2spPath drops Go's tile-height path element: tile/8/0/x001/234 is
// tile/0/x001/234 in C2SP tlog-tiles.
func c2spPath(t tlog.Tile) string {
	return strings.Replace(t.Path(), "tile/8/", "tile/", 1)
}

func bundlePath(n int64, w int) string {
	return strings.Replace(c2spPath(tlog.Tile{H: 8, L: 0, N: n, W: w}), "tile/0/", "tile/entries/", 1)
}

func parseBundle(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, fmt.Errorf("truncated entry")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out, nil
}

type summary struct {
	Size          int64  `json:"size"`
	Root          string `json:"root"`
	Origin        string `json:"origin"`
	Tiles         int    `json:"tiles"`
	OlderPartials int    `json:"older_partials"`
	Proofs        int    `json:"proofs"`
}

// opened is a checkpoint note that verified.
type opened struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"`
}

// open verifies the signed note in file with vkey and parses its
// checkpoint body (origin, size, root), printing them as JSON.
func open(vkey, file string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("verifier key: %v", err)
	}
	msg, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return fmt.Errorf("opening %s: %v", file, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		return fmt.Errorf("checkpoint text %q: want origin %q", n.Text, v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("checkpoint size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return fmt.Errorf("checkpoint root: %v", err)
	}
	return json.NewEncoder(os.Stdout).Encode(opened{lines[0], size, root.String()})
}

// openDirCheckpoint opens DIR's checkpoint with the verifier key VKEY and
// returns its origin (which must be the key's name), size and root hash.
func openDirCheckpoint(dir, vkey string) (string, int64, tlog.Hash, error) {
	var none tlog.Hash
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return "", 0, none, fmt.Errorf("verifier key: %v", err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		return "", 0, none, err
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return "", 0, none, fmt.Errorf("opening checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		return "", 0, none, fmt.Errorf("checkpoint text %q: want origin %q", n.Text, v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return "", 0, none, fmt.Errorf("checkpoint size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return "", 0, none, fmt.Errorf("checkpoint root: %v", err)
	}
	return lines[0], size, root, nil
}

func check(dir, vkey, proofsFile string) error {
	origin, size, root, err := openDirCheckpoint(dir, vkey)
	if err != nil {
		return err
	}
	m := &memory{}
	for k := int64(0); k*256 < size; k++ {
		w := size - k*256
		if w > 256 {
			w = 256
		}
		data, err := os.ReadFile(filepath.Join(dir, bundlePath(k, int(w))))
		if err != nil {
			return err
		}
		entries, err := parseBundle(data)
		if err != nil || int64(len(entries)) != w {
			return fmt.Errorf("bundle %s: %d entries, %v", bundlePath(k, int(w)), len(entries), err)
		}
		for i, e := range entries {
			if err := m.add(k*256+int64(i), e); err != nil {
				return err
			}
		}
	}
	sum := summary{Size: size, Root: root.String(), Origin: origin}
	for _, t := range withOlderPartials(tlog.NewTiles(8, 0, size)) {
		want, err := tlog.ReadTileData(t, m)
		if err != nil {
			return err
		}
		count := size >> (8 * uint(t.L))
		final := t.W == 256 || (t.N == count/256 && int64(t.W) == count%256)
		got, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
		if err != nil && !final {
			continue // older partial tiles may be absent
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("tile %s differs from Go's", c2spPath(t))
		}
		if final {
			sum.Tiles++
		} else {
			sum.OlderPartials++
		}
	}
	th, err := m.root(size)
	if err != nil {
		return err
	}
	if th != root {
		return fmt.Errorf("root: checkpoint %v, Go %v", root, th)
	}
	sum.Proofs, err = checkProofs(proofsFile, m)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(sum)
}

// withOlderPartials adds the narrower versions of every full tile: a log
// keeps the partial tiles of earlier checkpoints, and they must match too.
func withOlderPartials(tiles []tlog.Tile) []tlog.Tile {
	var out []tlog.Tile
	for _, t := range tiles {
		if t.W == 256 {
			for w := 1; w < 256; w++ {
				out = append(out, tlog.Tile{H: t.H, L: t.L, N: t.N, W: w})
			}
		}
		out = append(out, t)
	}
	return out
}

type proof struct {
	Type     string      `json:"type"`
	Index    int64       `json:"index"`
	OldSize  int64       `json:"old_size"`
	TreeSize int64       `json:"tree_size"`
	LeafHash tlog.Hash   `json:"leaf_hash"`
	OldRoot  tlog.Hash   `json:"old_root"`
	RootHash tlog.Hash   `json:"root_hash"`
	Proof    []tlog.Hash `json:"proof"`
}

// checkProofs checks proofs printed by `fsctl prove` with tlog.CheckRecord
// and tlog.CheckTree, and that they equal the proofs Go builds itself.
func checkProofs(file string, m *memory) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	count := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p proof
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return count, err
		}
		th, err := m.root(p.TreeSize)
		if err != nil {
			return count, err
		}
		if th != p.RootHash {
			return count, fmt.Errorf("%s proof: root %v, Go %v", p.Type, p.RootHash, th)
		}
		var mine []tlog.Hash
		switch p.Type {
		case "inclusion":
			leaf, err := m.ReadHashes([]int64{tlog.StoredHashIndex(0, p.Index)})
			if err != nil || leaf[0] != p.LeafHash {
				return count, fmt.Errorf("leaf hash %d: %v", p.Index, err)
			}
			if err := tlog.CheckRecord(p.Proof, p.TreeSize, th, p.Index, p.LeafHash); err != nil {
				return count, fmt.Errorf("inclusion %d in %d: %v", p.Index, p.TreeSize, err)
			}
			mine, err = tlog.ProveRecord(p.TreeSize, p.Index, m)
			if err != nil {
				return count, err
			}
		case "consistency":
			oh, err := m.root(p.OldSize)
			if err != nil || oh != p.OldRoot {
				return count, fmt.Errorf("old root %d: %v", p.OldSize, err)
			}
			if err := tlog.CheckTree(p.Proof, p.TreeSize, th, p.OldSize, oh); err != nil {
				return count, fmt.Errorf("consistency %d to %d: %v", p.OldSize, p.TreeSize, err)
			}
			mine, err = tlog.ProveTree(p.TreeSize, p.OldSize, m)
			if err != nil {
				return count, err
			}
		default:
			return count, fmt.Errorf("unknown proof type %q", p.Type)
		}
		if fmt.Sprint(mine) != fmt.Sprint(p.Proof) {
			return count, fmt.Errorf("%s proof differs from Go's: %v vs %v", p.Type, p.Proof, mine)
		}
		count++
	}
	return count, sc.Err()
}

type generated struct {
	Skey        string           `json:"skey"`
	Vkey        string           `json:"vkey"`
	Vkey2       string           `json:"vkey2"`
	Text        string           `json:"text"`
	Note        string           `json:"note"`
	Records     []string         `json:"records"`
	Inclusion   []generatedProof `json:"inclusion"`
	Consistency []generatedProof `json:"consistency"`
	Roots       map[int64]string `json:"roots"`
}

type generatedProof struct {
	Index    int64       `json:"index,omitempty"`
	OldSize  int64       `json:"old_size,omitempty"`
	TreeSize int64       `json:"tree_size"`
	Proof    []tlog.Hash `json:"proof"`
}

// gen builds a log of n records with Go, signs its checkpoint with two keys,
// and emits proofs for our implementation to check.
func gen(arg string) error {
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 1 {
		return fmt.Errorf("bad size %q", arg)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "oracle.example/log")
	if err != nil {
		return err
	}
	skey2, vkey2, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		return err
	}
	m := &memory{}
	out := generated{Skey: skey, Vkey: vkey, Vkey2: vkey2, Roots: map[int64]string{}}
	for i := int64(0); i < n; i++ {
		r := []byte(fmt.Sprintf("go record %d", i))
		out.Records = append(out.Records, base64.StdEncoding.EncodeToString(r))
		if err := m.add(i, r); err != nil {
			return err
		}
	}
	for t := int64(1); t <= n; t++ {
		th, err := m.root(t)
		if err != nil {
			return err
		}
		out.Roots[t] = th.String()
	}
	out.Text = fmt.Sprintf("oracle.example/log\n%d\n%s\n", n, out.Roots[n])
	s1, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	s2, err := note.NewSigner(skey2)
	if err != nil {
		return err
	}
	msg, err := note.Sign(&note.Note{Text: out.Text}, s1, s2)
	if err != nil {
		return err
	}
	out.Note = string(msg)
	for t := int64(1); t <= n; t += 1 + t/7 {
		for _, i := range []int64{0, t / 2, t - 1, 255, 256, 257} {
			if i >= t {
				continue
			}
			p, err := tlog.ProveRecord(t, i, m)
			if err != nil {
				return err
			}
			out.Inclusion = append(out.Inclusion, generatedProof{Index: i, TreeSize: t, Proof: p})
		}
		for _, old := range []int64{1, 2, t / 3, 255, 256, t - 1, t} {
			if old < 1 || old > t {
				continue
			}
			p, err := tlog.ProveTree(t, old, m)
			if err != nil {
				return err
			}
			out.Consistency = append(out.Consistency, generatedProof{OldSize: old, TreeSize: t, Proof: p})
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// bench times appending COUNT records of SIZE bytes with tlog.StoredHashes
// into in-memory hash storage, and Go's SHA-256 of each record, RUNS times
// each, and prints each run's nanoseconds per record.
func bench(sizeArg, countArg, runsArg string) error {
	size, err1 := strconv.Atoi(sizeArg)
	count, err2 := strconv.Atoi(countArg)
	runs, err3 := strconv.Atoi(runsArg)
	if err1 != nil || err2 != nil || err3 != nil || size < 8 || count < 1 || runs < 1 {
		return fmt.Errorf("bad bench arguments")
	}
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte(i)
	}
	var perRecord, sha []float64
	for r := 0; r < runs; r++ {
		start := time.Now()
		var acc byte
		for i := 0; i < count; i++ {
			binary.BigEndian.PutUint64(rec, uint64(i))
			acc ^= sha256.Sum256(rec)[0]
		}
		sha = append(sha, float64(time.Since(start).Nanoseconds())/float64(count)+float64(acc&0))
	}
	for r := 0; r < runs; r++ {
		m := &memory{hashes: make([]tlog.Hash, 0, 2*count+64)}
		start := time.Now()
		for i := 0; i < count; i++ {
			binary.BigEndian.PutUint64(rec, uint64(i))
			if err := m.add(int64(i), rec); err != nil {
				return err
			}
		}
		perRecord = append(perRecord, float64(time.Since(start).Nanoseconds())/float64(count))
	}
	sort.Float64s(perRecord)
	sort.Float64s(sha)
	return json.NewEncoder(os.Stdout).Encode(map[string][]float64{"ns_per_record": perRecord, "sha256_ns": sha})
}

// cosigV1 verifies C2SP tlog-cosignature v1 (Ed25519) signatures, written
// from the specification as a note.Verifier, so that note.Open checks them.
type cosigV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigV1) Name() string    { return c.name }
func (c *cosigV1) KeyHash() uint32 { return c.hash }

// Verify checks sig = u64 timestamp || Ed25519 signature over
// "cosignature/v1\ntime <t>\n" followed by the note text.
func (c *cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(c.key, m, sig[8:])
}

// newCosigV1 parses a vkey name+hash+base64(0x04 || key).
func newCosigV1(vkey string) (*cosigV1, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed witness key %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, fmt.Errorf("witness key %q: not an Ed25519 cosignature key", vkey)
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	hash := binary.BigEndian.Uint32(h[:4])
	if fmt.Sprintf("%08x", hash) != parts[1] {
		return nil, fmt.Errorf("witness key %q: wrong key hash", vkey)
	}
	return &cosigV1{parts[0], hash, ed25519.PublicKey(raw[1:])}, nil
}

func cosigned(vkey, wkey, file string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("verifier key: %v", err)
	}
	w, err := newCosigV1(wkey)
	if err != nil {
		return err
	}
	msg, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n, err := note.Open(msg, note.VerifierList(v, w))
	if err != nil {
		return fmt.Errorf("opening %s: %v", file, err)
	}
	var signed, cosigned bool
	for _, s := range n.Sigs {
		signed = signed || (s.Name == v.Name() && s.Hash == v.KeyHash())
		cosigned = cosigned || (s.Name == w.Name() && s.Hash == w.KeyHash())
	}
	if !signed || !cosigned {
		return fmt.Errorf("%s: signed by the log: %v, cosigned by %s: %v", file, signed, w.Name(), cosigned)
	}
	return open(vkey, file)
}

// dirTiles reads hash tiles from a tlog-tiles directory, as a client
// fetches them (tlog.TileHashReader authenticates them against the tree).
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		data, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// proofbench times COUNT inclusion proofs (tlog.ProveRecord) and COUNT
// consistency proofs (tlog.ProveTree) of pseudo-random indexes over the
// tiles of DIR, read through tlog.TileHashReader for the tree of DIR's
// checkpoint (opened with VKEY), each checked; prints nanoseconds per
// proof as JSON.
func proofbench(dir, vkey, countArg string) error {
	count, err := strconv.Atoi(countArg)
	if err != nil || count < 1 {
		return fmt.Errorf("bad count %q", countArg)
	}
	_, size, root, err := openDirCheckpoint(dir, vkey)
	if err != nil {
		return err
	}
	tree := tlog.Tree{N: size, Hash: root}
	r := tlog.TileHashReader(tree, dirTiles{dir})
	x := uint64(12345)
	next := func(m int64) int64 {
		x = x*6364136223846793005 + 1442695040888963407
		return int64((x >> 11) % uint64(m))
	}
	indexes := make([]int64, count)
	proofs := make([]tlog.RecordProof, count)
	start := time.Now()
	for i := range indexes {
		indexes[i] = next(size)
		if proofs[i], err = tlog.ProveRecord(size, indexes[i], r); err != nil {
			return fmt.Errorf("proving %d: %v", indexes[i], err)
		}
	}
	inclusion := float64(time.Since(start).Nanoseconds()) / float64(count)
	// Each proof checked, untimed.
	for i, idx := range indexes {
		leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, idx)})
		if err != nil {
			return err
		}
		if err := tlog.CheckRecord(proofs[i], size, root, idx, leaf[0]); err != nil {
			return fmt.Errorf("checking %d: %v", idx, err)
		}
	}
	start = time.Now()
	for i := 0; i < count; i++ {
		old := next(size) + 1
		if _, err := tlog.ProveTree(size, old, r); err != nil {
			return fmt.Errorf("proving %d: %v", old, err)
		}
	}
	consistency := float64(time.Since(start).Nanoseconds()) / float64(count)
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"inclusion_ns": inclusion, "consistency_ns": consistency,
	})
}
