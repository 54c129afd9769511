package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/feeds2sentinel/feeds2sentinel/internal/queue"
)

// The local pipeline: split a feed's objects into batches, publish them to
// the spool, then receive, upload and settle each message.
func ExampleSpool() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	spool, err := queue.OpenSpool(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	objects := []json.RawMessage{
		json.RawMessage(`{"type":"identity","id":"identity--1","name":"feeds2sentinel"}`),
		json.RawMessage(`{"type":"indicator","id":"indicator--1","created_by_ref":"identity--1"}`),
		json.RawMessage(`{"type":"indicator","id":"indicator--2","created_by_ref":"identity--1"}`),
	}
	batches := queue.Split("threatfox", objects, &queue.SplitOptions{MaxObjects: 2})
	sent, err := spool.Publish(ctx, batches)
	fmt.Println("batches:", len(batches), "objects sent:", sent, "error:", err)

	for {
		msg, err := spool.Receive(ctx)
		if errors.Is(err, queue.ErrEmpty) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		batch, err := queue.DecodeMessage(*msg)
		if err != nil {
			// Not a batch: keep it for an operator, then drop it.
			_ = spool.Park(ctx, *msg, "InvalidMessage", err.Error())
			_ = spool.Complete(msg)
			continue
		}
		fmt.Println(batch.Source, len(batch.Objects), "objects, delivery", msg.DeliveryCount)
		// Upload here; on a transient failure: spool.Abandon(msg, err.Error()).
		if err := spool.Complete(msg); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// batches: 2 objects sent: 4 error: <nil>
	// threatfox 2 objects, delivery 1
	// threatfox 2 objects, delivery 1
}
