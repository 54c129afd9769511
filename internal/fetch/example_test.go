package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/feeds2sentinel/feeds2sentinel/internal/fetch"
)

// A conditional fetch: the second request sends the first response's
// validators and the unchanged payload is skipped.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, "# URLhaus\n1,http://example.test/x\n")
	}))
	defer srv.Close()

	c, err := fetch.New(&fetch.Options{Transport: srv.Client()})
	if err != nil {
		panic(err)
	}
	req := &fetch.Request{Feed: "urlhaus", URL: srv.URL + "/downloads/csv_recent/"}
	resp, err := c.Fetch(context.Background(), req)
	if err != nil {
		panic(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%d bytes, validators %+v, read error %v\n", len(body), resp.Validators(), err)

	req.SetValidators(resp.Validators())
	_, err = c.Fetch(context.Background(), req)
	fmt.Println(errors.Is(err, fetch.ErrNotModified), err)
	// Output:
	// 34 bytes, validators {ETag:"v1" LastModified:}, read error <nil>
	// true urlhaus: not modified
}
