package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeCutsSlowBody sends a body one byte every 20 ms to a server whose
// read timeout is 200 ms: the handler's read fails and the server closes
// the connection long before the body is complete (it used to wait
// forever: only header and idle timeouts were set).
func TestServeCutsSlowBody(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Listener: ln, Handler: h, ReadTimeout: 200 * time.Millisecond,
			WriteTimeout: time.Second, DrainTimeout: time.Second})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 200 // bytes of body, one per tick: 4 s at full length
	if _, err := fmt.Fprintf(c, "POST /api/indicators HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", size); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for ; sent < size; sent++ {
		if _, err := c.Write([]byte("0")); err != nil {
			break // the server closed the connection
		}
		select {
		case err := <-readErr:
			if err == nil {
				t.Fatal("the handler read the whole slow body")
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Logf("read error: %v", err)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("sent %d of %d body bytes without the read timeout cutting the request", sent, size)
}

func TestServeTimeoutDefaults(t *testing.T) {
	t.Parallel()
	if got := or(0, DefaultReadTimeout); got != DefaultReadTimeout {
		t.Errorf("or(0) = %v", got)
	}
	if got := or(time.Second, DefaultReadTimeout); got != time.Second {
		t.Errorf("or(1s) = %v", got)
	}
	if DefaultWriteTimeout <= 9*time.Minute+DefaultReadTimeout {
		t.Errorf("DefaultWriteTimeout %v does not cover a 9-minute invocation after reading a body", DefaultWriteTimeout)
	}
}
