// Command httpclient is an independent tlog-tiles client: with Go's
// golang.org/x/mod/sumdb/tlog and note packages it fetches a log's signed
// checkpoint, its tiles and its entry bundles over HTTP and verifies them.
//
//	httpclient verify BASEURL VERIFIER_KEY TOKEN
//
// BASEURL is the log's tlog-tiles prefix, such as
// http://127.0.0.1:1234/acme/ or http://127.0.0.1:1234/acme/audit/; every
// request carries "Authorization: Bearer TOKEN". It checks that:
//
//   - the checkpoint opens with note.Open and the verifier key, and its
//     origin is the key's name;
//   - the hash tiles support the checkpoint's root (tlog.TileHashReader
//     authenticates them, tlog.TreeHash recomputes the root);
//   - every record of the entry bundles hashes (tlog.RecordHash) to the
//     level-0 hash the tiles hold for it;
//   - the records alone (tlog.StoredHashes, tlog.TreeHash) give the root,
//     and every tile of the tree equals the one Go builds from them;
//   - inclusion proofs built from the tiles (tlog.ProveRecord) check
//     (tlog.CheckRecord) for a few records, and equal Go's own;
//   - narrower partial tiles and bundles of the full ones are their prefixes.
//
// It prints one JSON line and exits 0, or prints why not to stderr and
// exits 1. Built in GOPATH mode against Debian's golang-golang-x-mod-dev.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// height is the tile height of C2SP tlog-tiles.
const height = 8

// width is the number of hashes (or entries) in a full tile (bundle).
const width = 1 << height

func main() {
	if len(os.Args) != 5 || os.Args[1] != "verify" {
		fmt.Fprintln(os.Stderr, "usage: httpclient verify BASEURL VERIFIER_KEY TOKEN")
		os.Exit(2)
	}
	sum, err := verify(os.Args[2], os.Args[3], os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(sum); err != nil {
		fmt.Fprintln(os.Stderr, "httpclient:", err)
		os.Exit(1)
	}
}

// summary is what verify checked.
type summary struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"`
	// Records hashed from the entry bundles and matched.
	Records int64 `json:"records"`
	// Hash tiles fetched: every tile of the tree.
	TilesFetched int `json:"tiles_fetched"`
	// Entry bundles fetched.
	Bundles int `json:"bundles"`
	// Narrower partial tiles and bundles checked against full ones.
	OlderPartials int `json:"older_partials"`
	// Inclusion proofs checked.
	Proofs int `json:"proofs"`
}

// server fetches paths under a base URL with a bearer token.
type server struct {
	base   string
	token  string
	client *http.Client
}

// get fetches path; a status other than 200 is an error.
func (s *server) get(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// tiles is a tlog.TileReader over HTTP. It keeps what it fetched in memory
// only: tlog.TileHashReader authenticates every tile again on each read, so
// nothing unchecked is ever used, and nothing is saved anywhere.
type tiles struct {
	srv     *server
	fetched map[tlog.Tile][]byte
}

func (t *tiles) Height() int { return height }

func (t *tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		if data, ok := t.fetched[tile]; ok {
			out[i] = data
			continue
		}
		data, err := t.srv.get(c2spPath(tile))
		if err != nil {
			return nil, err
		}
		if len(data) != tile.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s: %d bytes, want %d", c2spPath(tile), len(data), tile.W*tlog.HashSize)
		}
		t.fetched[tile] = data
		out[i] = data
	}
	return out, nil
}

func (t *tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// c2spPath drops Go's tile-height path element: Go's tile/8/0/x001/234 is
// tile/0/x001/234 in C2SP tlog-tiles.
func c2spPath(t tlog.Tile) string {
	return strings.Replace(t.Path(), fmt.Sprintf("tile/%d/", height), "tile/", 1)
}

// bundlePath is the path of entry bundle n, w entries wide.
func bundlePath(n int64, w int) string {
	return strings.Replace(c2spPath(tlog.Tile{H: height, L: 0, N: n, W: w}), "tile/0/", "tile/entries/", 1)
}

// parseBundle splits an entry bundle into its records (each after a
// big-endian 16-bit length).
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

// parseCheckpoint parses a C2SP checkpoint body: origin, size, root (and any
// extension lines, ignored). tlog.ParseTree wants go.sum's own header
// line instead of an origin, so the body is parsed here.
func parseCheckpoint(text, origin string) (tlog.Tree, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return tlog.Tree{}, fmt.Errorf("checkpoint text %q: want origin, size and root lines", text)
	}
	if lines[0] != origin {
		return tlog.Tree{}, fmt.Errorf("checkpoint origin %q: want the key's name %q", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return tlog.Tree{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint root %q: %v", lines[2], err)
	}
	return tlog.Tree{N: size, Hash: root}, nil
}

func verify(base, vkey, token string) (*summary, error) {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %v", err)
	}
	srv := &server{base: base, token: token, client: &http.Client{Timeout: 30 * time.Second}}
	msg, err := srv.get("checkpoint")
	if err != nil {
		return nil, err
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("opening the checkpoint: %v", err)
	}
	tree, err := parseCheckpoint(n.Text, v.Name())
	if err != nil {
		return nil, err
	}
	sum := &summary{Origin: v.Name(), Size: tree.N, Root: tree.Hash.String()}
	if tree.N == 0 {
		// RFC 6962 MTH({}); Go's TreeHash has no tiles to read.
		if tree.Hash != sha256.Sum256(nil) {
			return nil, fmt.Errorf("empty tree with root %v", tree.Hash)
		}
		return sum, nil
	}
	tr := &tiles{srv: srv, fetched: make(map[tlog.Tile][]byte)}
	hr := tlog.TileHashReader(tree, tr)

	th, err := tlog.TreeHash(tree.N, hr)
	if err != nil {
		return nil, fmt.Errorf("tree hash from the tiles: %v", err)
	}
	if th != tree.Hash {
		return nil, fmt.Errorf("root: checkpoint %v, tiles %v", tree.Hash, th)
	}

	// Every record's level-0 hash, read through tlog.TileHashReader at once.
	idx := make([]int64, tree.N)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(0, int64(i))
	}
	leaves, err := hr.ReadHashes(idx)
	if err != nil {
		return nil, fmt.Errorf("level-0 hashes: %v", err)
	}
	// Every record, from the entry bundles, matched to its level-0 hash,
	// and stored as Go's tlog stores a log of its own.
	var records [][]byte
	mem := &memory{}
	for k := int64(0); k*width < tree.N; k++ {
		w := tree.N - k*width
		if w > width {
			w = width
		}
		path := bundlePath(k, int(w))
		data, err := srv.get(path)
		if err != nil {
			return nil, err
		}
		sum.Bundles++
		entries, err := parseBundle(data)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %v", path, err)
		}
		if int64(len(entries)) != w {
			return nil, fmt.Errorf("bundle %s: %d entries, want %d", path, len(entries), w)
		}
		for i, e := range entries {
			x := k*width + int64(i)
			if tlog.RecordHash(e) != leaves[x] {
				return nil, fmt.Errorf("record %d (%s): hash %v, tile has %v", x, path, tlog.RecordHash(e), leaves[x])
			}
			if err := mem.add(x, e); err != nil {
				return nil, err
			}
			records = append(records, e)
			sum.Records++
		}
		if w == width {
			got, err := olderBundles(srv, k, data)
			sum.OlderPartials += got
			if err != nil {
				return nil, err
			}
		}
	}

	// The records alone give the checkpoint's root. This does not rely on
	// tlog.TileHashReader having authenticated the tiles: it does not check
	// every full tile against its parent (its loop over them starts at
	// len(stx), the number of subtree hashes, not of the tiles holding
	// them), so a tampered tile and bundle could otherwise pass together.
	if mh, err := tlog.TreeHash(tree.N, mem); err != nil || mh != tree.Hash {
		return nil, fmt.Errorf("root: checkpoint %v, records %v (%v)", tree.Hash, mh, err)
	}

	// Every tile of the tree equals the one Go builds from the records, and
	// narrower partials of each full tile are served as its prefixes.
	for l := 0; tree.N>>(height*uint(l)) > 0; l++ {
		count := tree.N >> (height * uint(l))
		for k := int64(0); k*width < count; k++ {
			w := count - k*width
			if w > width {
				w = width
			}
			t := tlog.Tile{H: height, L: l, N: k, W: int(w)}
			got, err := tr.ReadTiles([]tlog.Tile{t})
			if err != nil {
				return nil, err
			}
			want, err := tlog.ReadTileData(t, mem)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(got[0], want) {
				return nil, fmt.Errorf("tile %s differs from the one Go builds from the records", c2spPath(t))
			}
			if t.W != width {
				continue
			}
			for _, w := range partialWidths {
				p := tlog.Tile{H: t.H, L: t.L, N: t.N, W: w}
				got, err := srv.get(c2spPath(p))
				if err != nil {
					return nil, err
				}
				if !bytes.Equal(got, want[:w*tlog.HashSize]) {
					return nil, fmt.Errorf("tile %s is not a prefix of %s", c2spPath(p), c2spPath(t))
				}
				sum.OlderPartials++
			}
		}
	}

	// Inclusion proofs built from the tiles, checked against the root, and
	// equal to the proofs Go builds from the records.
	for _, x := range proofIndexes(tree.N) {
		p, err := tlog.ProveRecord(tree.N, x, hr)
		if err != nil {
			return nil, fmt.Errorf("proving record %d: %v", x, err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, x, tlog.RecordHash(records[x])); err != nil {
			return nil, fmt.Errorf("inclusion of record %d in %d: %v", x, tree.N, err)
		}
		mine, err := tlog.ProveRecord(tree.N, x, mem)
		if err != nil || fmt.Sprint(mine) != fmt.Sprint(p) {
			return nil, fmt.Errorf("inclusion proof of record %d from the tiles differs from Go's (%v)", x, err)
		}
		sum.Proofs++
	}
	sum.TilesFetched = len(tr.fetched)
	return sum, nil
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

// partialWidths are the narrower partials checked of each full tile.
var partialWidths = []int{1, 100, width - 1}

// olderBundles checks that narrower partials of full bundle k are its
// prefixes; it returns how many it checked.
func olderBundles(srv *server, k int64, full []byte) (int, error) {
	checked := 0
	for _, w := range partialWidths {
		path := bundlePath(k, w)
		got, err := srv.get(path)
		if err != nil {
			return checked, err
		}
		// The first w entries of the full bundle.
		end := 0
		for i := 0; i < w; i++ {
			end += 2 + int(binary.BigEndian.Uint16(full[end:]))
		}
		if !bytes.Equal(got, full[:end]) {
			return checked, fmt.Errorf("bundle %s is not a prefix of %s", path, bundlePath(k, width))
		}
		checked++
	}
	return checked, nil
}

// proofIndexes are the records whose inclusion is proved: the first, the
// last, and some in between, including tile edges.
func proofIndexes(n int64) []int64 {
	var out []int64
	seen := make(map[int64]bool)
	for _, x := range []int64{0, 1, width - 1, width, n / 3, n / 2, n - 2, n - 1} {
		if x >= 0 && x < n && !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
