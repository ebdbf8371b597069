package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var crashKills = flag.Int("crash.kills", 0, "SIGKILLs in TestCrashConsistency (0: 25, or 6 with -short)")

const crashEnv = "HEARTH_STORAGE_CRASH_WRITER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		// Re-executed as the writer of TestCrashConsistency: write until
		// killed; never returns normally.
		if err := crashWriter(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash writer:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

var (
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	keyCount      = []byte("count")
)

// fillChunk fills b with bytes that depend only on n, so the checker can
// rebuild what the writer stored.
func fillChunk(b []byte, n uint64) {
	r := rand.New(rand.NewPCG(n, n^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
}

func chunkFor(n uint64) []byte {
	b := make([]byte, 1+int(n*7919%(192<<10)))
	fillChunk(b, n)
	return b
}

func key(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// crashWriter stores chunk n and then, in one transaction, record n (the
// chunk's id) and the count n, and prints "ack n" only after both returned.
func crashWriter(dir string) error {
	db, err := Open(filepath.Join(dir, "hearth.db"), Config{LockTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	chunks, err := OpenChunks(filepath.Join(dir, "chunks"))
	if err != nil {
		return err
	}
	var n uint64
	db.View(func(tx *Tx) error {
		if k, _, err := tx.Last(bucketRecords); err == nil {
			n = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	for {
		n++
		id, err := chunks.Put(chunkFor(n))
		if err != nil {
			return err
		}
		err = db.Update(func(tx *Tx) error {
			if err := tx.Put(bucketRecords, key(n), id[:]); err != nil {
				return err
			}
			return tx.Put(bucketMeta, keyCount, key(n))
		})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", n); err != nil {
			return err
		}
	}
}

// TestCrashConsistency kills a writer process with SIGKILL at random points
// and proves, after each kill, that every write it acknowledged is there,
// that the database is consistent and that no chunk is corrupt.
func TestCrashConsistency(t *testing.T) {
	kills := *crashKills
	if kills == 0 {
		kills = 25
		if testing.Short() {
			kills = 6
		}
	}
	dir := t.TempDir()
	seed := time.Now().UnixNano()
	t.Logf("seed %d, %d kills", seed, kills)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	var acked uint64
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan uint64, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					v, _ := strconv.ParseUint(n, 10, 64)
					lines <- v
				}
			}
		}()
		// Let it write for a random while (5-120 ms after its first ack)
		// so kills land at every stage of a write.
		first := true
		deadline := time.NewTimer(5 * time.Second)
	wait:
		for {
			select {
			case n, ok := <-lines:
				if !ok {
					t.Fatalf("kill %d: writer exited early: %s", k, stderr.String())
				}
				if n > acked {
					acked = n
				}
				if first {
					first = false
					deadline.Reset(time.Duration(5+rng.IntN(115)) * time.Millisecond)
				}
			case <-deadline.C:
				break wait
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for n := range lines { // what was printed before the kill counts
			if n > acked {
				acked = n
			}
		}
		cmd.Wait()
		if first {
			t.Fatalf("kill %d: writer acknowledged nothing in 5 s: %s", k, stderr.String())
		}
		checkCrashState(t, dir, acked)
	}
	t.Logf("%d writes acknowledged across %d kills, all intact", acked, kills)
}

func checkCrashState(t *testing.T, dir string, acked uint64) {
	t.Helper()
	db, err := Open(filepath.Join(dir, "hearth.db"), Config{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	chunks, err := OpenChunks(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	if bad, err := chunks.Scrub(); err != nil || len(bad) > 0 {
		t.Fatalf("corrupt chunks after a kill: %v %v", bad, err)
	}
	var count uint64
	err = db.View(func(tx *Tx) error {
		v, err := tx.Get(bucketMeta, keyCount)
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		count = binary.BigEndian.Uint64(v)
		for n := uint64(1); n <= count; n++ {
			v, err := tx.Get(bucketRecords, key(n))
			if err != nil {
				return fmt.Errorf("record %d of %d: %w", n, count, err)
			}
			var id ChunkID
			copy(id[:], v)
			data, err := chunks.Get(id)
			if err != nil {
				return fmt.Errorf("record %d: %w", n, err)
			}
			if !bytes.Equal(data, chunkFor(n)) {
				return fmt.Errorf("record %d: chunk holds other bytes", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The transaction that writes record n also writes count n, so count
	// covers every acknowledged write (and perhaps one committed just
	// before the kill, not yet acknowledged).
	if count < acked {
		t.Fatalf("acknowledged %d writes, only %d survived", acked, count)
	}
}
