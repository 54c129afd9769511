package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// azuriteKey is Azurite's well-known development account key (public and
// documented, not a secret).
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// azurite is the Azurite Table service shared by the tests of this
// package, started on first use and stopped by TestMain.
type azuriteServer struct {
	once    sync.Once
	cmd     *exec.Cmd
	exited  chan struct{}
	dir     string
	connStr string
	err     error
}

var azurite azuriteServer

func TestMain(m *testing.M) {
	code := m.Run()
	if azurite.cmd != nil {
		azurite.cmd.Process.Kill()
		<-azurite.exited
		os.RemoveAll(azurite.dir)
	}
	os.Exit(code)
}

// azuriteConnString starts azurite-table if needed and returns the
// connection string of its dev account. Without the binary the test is
// skipped, unless F2S_REQUIRE_AZURITE=1.
func azuriteConnString(tb testing.TB) string {
	tb.Helper()
	azurite.once.Do(func() { azurite.err = azurite.start() })
	if azurite.err != nil {
		if os.Getenv("F2S_REQUIRE_AZURITE") == "1" {
			tb.Fatalf("azurite: %v", azurite.err)
		}
		tb.Skipf("skipping Table Storage tests: %v (install with npm install -g azurite@3.37.0; set F2S_REQUIRE_AZURITE=1 to fail instead)", azurite.err)
	}
	return azurite.connStr
}

func (a *azuriteServer) start() error {
	bin, err := exec.LookPath("azurite-table")
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "azurite")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--tableHost", "127.0.0.1", "--tablePort", fmt.Sprint(port),
		"--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry")
	cmd.Dir = dir // any file Azurite writes stays in dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	a.cmd, a.dir = cmd, dir
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	a.exited = exited
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("azurite-table exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("azurite-table did not listen on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.connStr = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azuriteKey +
		";TableEndpoint=http://" + addr + "/devstoreaccount1;"
	return nil
}

// openAzurite opens a TableStore on a fresh table.
func openAzurite(tb testing.TB) *TableStore {
	tb.Helper()
	cs := azuriteConnString(tb)
	b := make([]byte, 8)
	rand.Read(b)
	name := "t" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenTable(ctx, TableOptions{ConnectionString: cs, Table: name})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTableStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store { return openAzurite(t) })
}

func TestOpenTableExisting(t *testing.T) {
	t.Parallel()
	cs := azuriteConnString(t)
	for range 2 { // the second open finds the table
		s, err := OpenTable(t.Context(), TableOptions{ConnectionString: cs})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if _, err := OpenTable(t.Context(), TableOptions{}); err == nil {
		t.Error("OpenTable without endpoint succeeded")
	}
}

// TestBatchETagsAzurite checks that the ETags read from a transaction
// response are the stored ones, and records the response as
// testdata/batch_response.txt with -update.
func TestBatchETagsAzurite(t *testing.T) {
	t.Parallel()
	s := openAzurite(t)
	keys := keysIn("etag", "i02", 3)
	var actions []aztables.TransactionAction
	for _, k := range keys {
		b, err := encodeIndicator(&Indicator{Key: k, Status: StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: b})
	}
	capt := &captured{}
	if _, err := s.client.SubmitTransaction(context.WithValue(t.Context(), captureKey{}, capt), actions, nil); err != nil {
		t.Fatal(err)
	}
	etags, err := batchETags(capt.header.Get("Content-Type"), capt.body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if _, rk := location(k); got[k] == nil || got[k].ETag != etags[i].etag || etags[i].rowKey != rk {
			t.Errorf("%s: batch result %+v, stored %v", k, etags[i], got[k])
		}
	}
	if *update {
		data := "Content-Type: " + capt.header.Get("Content-Type") + "\n\n" + string(capt.body)
		if err := os.WriteFile("testdata/batch_response.txt", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
