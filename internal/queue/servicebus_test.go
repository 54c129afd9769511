package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestBus(t *testing.T, maxBytes int) (*ServiceBus, *fakeBus) {
	t.Helper()
	fake := newFakeBus(maxBytes)
	s, err := NewServiceBus(ServiceBusOptions{Queue: "upload", Client: fake, Now: func() time.Time { return fixedNow },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

// batchesOf returns n batches of per unique objects, each pad bytes long.
func batchesOf(n, per, pad int) ([]Batch, int) {
	var bs []Batch
	total := 0
	for i := range n {
		b := Batch{Source: "test"}
		for j := range per {
			b.Objects = append(b.Objects, obj(fmt.Sprintf("indicator--%d-%d", i, j), "", pad))
		}
		total += per
		bs = append(bs, b)
	}
	return bs, total
}

// objectsOn decodes every message on a queue and counts each object id.
func objectsOn(t *testing.T, fake *fakeBus, queue string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, m := range fake.messages(queue) {
		b, err := Decode(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if m.MessageID != MessageID(m.Body) {
			t.Errorf("MessageID %s is not the body hash", m.MessageID)
		}
		if *m.ContentType != ContentType || m.ApplicationProperties[PropCount] != len(b.Objects) ||
			m.ApplicationProperties[PropSchemaVersion] != SchemaVersion || m.ApplicationProperties[PropSource] != "test" {
			t.Errorf("message %s: content type %s, properties %v", m.MessageID, *m.ContentType, m.ApplicationProperties)
		}
		for _, o := range b.Objects {
			var v struct{ ID string }
			_ = json.Unmarshal(o, &v)
			seen[v.ID]++
		}
	}
	return seen
}

func TestNormalizeNamespace(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"f2s.servicebus.windows.net", "f2s.servicebus.windows.net"},
		{"sb://F2S.servicebus.windows.net/", "f2s.servicebus.windows.net"},
		{" https://f2s.servicebus.windows.net ", "f2s.servicebus.windows.net"},
		{"f2s", "f2s.servicebus.windows.net"},
		{"", ""},
		{"Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s", ""},
		{"sb://x.servicebus.windows.net/queue", ""},
	}
	for _, tc := range cases {
		got, err := NormalizeNamespace(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("NormalizeNamespace(%q) = %q, %v; want ErrInvalidOptions", tc.in, got, err)
			}
			if err != nil && strings.Contains(err.Error(), "SharedAccessKey=s") {
				t.Errorf("error quotes a secret: %v", err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeNamespace(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNewServiceBusOptions(t *testing.T) {
	t.Parallel()
	if _, err := NewServiceBus(ServiceBusOptions{Namespace: "x.servicebus.windows.net"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("no queue: %v", err)
	}
	if _, err := NewServiceBus(ServiceBusOptions{Namespace: "x.servicebus.windows.net", Queue: "q"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("no credential: %v", err)
	}
	s, _ := newTestBus(t, 1<<20)
	if s.parkedQueue != "upload-parked" {
		t.Errorf("parked queue = %q", s.parkedQueue)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestServiceBusPublishPacksBatches(t *testing.T) {
	t.Parallel()
	batches, total := batchesOf(10, 5, 100)
	m, _ := Encode(batches[0])
	// Room for three messages per SDK batch.
	s, fake := newTestBus(t, 3*(len(m.Body)+fakeOverhead)+10)
	sent, err := s.Publish(context.Background(), batches)
	if err != nil || sent != total {
		t.Fatalf("Publish = %d, %v; want %d", sent, err, total)
	}
	if fake.sends != 4 {
		t.Errorf("%d SDK batches sent, want 4", fake.sends)
	}
	seen := objectsOn(t, fake, "upload")
	if len(seen) != total {
		t.Errorf("%d distinct objects on the queue, want %d", len(seen), total)
	}
}

func TestServiceBusPublishSplitsOversizedMessage(t *testing.T) {
	t.Parallel()
	batches, total := batchesOf(1, 40, 200) // ~10 KB in one message
	const max = 2500
	s, fake := newTestBus(t, max)
	sent, err := s.Publish(context.Background(), batches)
	if err != nil || sent != total {
		t.Fatalf("Publish = %d, %v; want %d", sent, err, total)
	}
	msgs := fake.messages("upload")
	if len(msgs) < 5 {
		t.Errorf("%d messages, want the batch split into at least 5", len(msgs))
	}
	for _, m := range msgs {
		if len(m.Body)+fakeOverhead > max {
			t.Errorf("message of %d bytes", len(m.Body))
		}
	}
	for id, n := range objectsOn(t, fake, "upload") {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
}

func TestServiceBusPublishKeepsIdentityWhenSplitting(t *testing.T) {
	t.Parallel()
	b := Batch{Source: "test", Objects: []json.RawMessage{obj("identity--me", "", 0)}}
	for i := range 20 {
		b.Objects = append(b.Objects, obj(fmt.Sprintf("indicator--%d", i), "identity--me", 200))
	}
	s, fake := newTestBus(t, 2000)
	if _, err := s.Publish(context.Background(), []Batch{b}); err != nil {
		t.Fatal(err)
	}
	for _, m := range fake.messages("upload") {
		if !strings.Contains(string(m.Body), `"id":"identity--me"`) {
			t.Errorf("a message lacks the identity: %.80s", m.Body)
		}
	}
}

func TestServiceBusPublishObjectTooLarge(t *testing.T) {
	t.Parallel()
	batches, _ := batchesOf(1, 1, 5000)
	s, fake := newTestBus(t, 1000)
	sent, err := s.Publish(context.Background(), batches)
	if sent != 0 || !errors.Is(err, ErrObjectTooLarge) {
		t.Errorf("Publish = %d, %v; want 0, ErrObjectTooLarge", sent, err)
	}
	if fake.sends != 0 {
		t.Errorf("%d sends", fake.sends)
	}
}

func TestServiceBusPublishSendFailure(t *testing.T) {
	t.Parallel()
	batches, _ := batchesOf(10, 5, 100)
	m, _ := Encode(batches[0])
	s, fake := newTestBus(t, 3*(len(m.Body)+fakeOverhead)+10)
	fake.failSend = 2 // the third SDK batch fails
	sent, err := s.Publish(context.Background(), batches)
	if !errors.Is(err, errFakeSend) {
		t.Fatalf("err = %v", err)
	}
	if want := 2 * 3 * 5; sent != want {
		t.Errorf("sent = %d, want %d (two SDK batches of three messages of five objects)", sent, want)
	}
	if got := len(objectsOn(t, fake, "upload")); got != sent {
		t.Errorf("%d objects on the queue, sent says %d", got, sent)
	}
}

func TestServiceBusPublishInvalidBatch(t *testing.T) {
	t.Parallel()
	batches, _ := batchesOf(3, 2, 0)
	batches[2].Objects[1] = json.RawMessage(`not json`)
	s, fake := newTestBus(t, 1<<20)
	sent, err := s.Publish(context.Background(), batches)
	if sent != 0 || !errors.Is(err, ErrInvalidMessage) || fake.sends != 0 {
		t.Errorf("Publish = %d, %v with %d sends; want nothing sent", sent, err, fake.sends)
	}
}

func TestServiceBusPark(t *testing.T) {
	t.Parallel()
	s, fake := newTestBus(t, 1<<20)
	batches, _ := batchesOf(1, 2, 0)
	m, _ := Encode(batches[0])
	if err := s.Park(context.Background(), m, "BadRequest", "400: invalid pattern"); err != nil {
		t.Fatal(err)
	}
	got := fake.messages("upload-parked")
	if len(got) != 1 {
		t.Fatalf("%d parked messages", len(got))
	}
	p := got[0]
	want := map[string]any{"schema_version": 1, "source": "test", "count": 2, "reason": "BadRequest",
		"description": "400: invalid pattern", "original_message_id": m.ID, "parked_at": "2026-03-01T12:00:00Z"}
	if fmt.Sprint(p.ApplicationProperties) != fmt.Sprint(want) {
		t.Errorf("properties = %v\nwant %v", p.ApplicationProperties, want)
	}
	if p.MessageID != m.ID || string(p.Body) != string(m.Body) {
		t.Errorf("parked copy differs: %s", p.MessageID)
	}
	if len(m.Properties) != 3 {
		t.Errorf("Park changed the caller's properties: %v", m.Properties)
	}
}

// dead puts a dead-lettered or parked message on the fake.
func dead(fake *fakeBus, queue, id, reason string) {
	m := &azservicebus.ReceivedMessage{MessageID: id, Body: []byte(`[{"id":"` + id + `"}]`),
		ApplicationProperties: map[string]any{PropSource: "test", PropCount: 1}}
	if strings.HasSuffix(queue, "/$dlq") {
		m.DeadLetterReason = &reason
		m.ApplicationProperties["DeadLetterReason"] = reason
	} else {
		m.ApplicationProperties[PropReason] = reason
		m.ApplicationProperties[PropParkedAt] = "2026-02-01T00:00:00Z"
	}
	fake.put(queue, m)
}

func TestServiceBusReplay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		opts      ReplayOptions
		want      ReplayResult
		movedIDs  []string
		remaining int
	}{
		{"all", ReplayOptions{}, ReplayResult{ReplayCount{3, 0}, ReplayCount{2, 0}},
			[]string{"d1", "d2", "d3", "p1", "p2"}, 0},
		{"deadletter only", ReplayOptions{From: "deadletter"}, ReplayResult{ReplayCount{3, 0}, ReplayCount{}},
			[]string{"d1", "d2", "d3"}, 2},
		{"parked by reason", ReplayOptions{From: "parked", Reason: "forbidden"}, ReplayResult{ReplayCount{}, ReplayCount{1, 1}},
			[]string{"p2"}, 4},
		{"reason across sources", ReplayOptions{Reason: "maxdelivery"}, ReplayResult{ReplayCount{2, 1}, ReplayCount{0, 2}},
			[]string{"d1", "d3"}, 3},
		{"max", ReplayOptions{Max: 2}, ReplayResult{ReplayCount{2, 1}, ReplayCount{0, 2}},
			[]string{"d1", "d2"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, fake := newTestBus(t, 1<<20)
			dead(fake, "upload/$dlq", "d1", "MaxDeliveryCountExceeded")
			dead(fake, "upload/$dlq", "d2", "TTLExpiredException")
			dead(fake, "upload/$dlq", "d3", "MaxDeliveryCountExceeded")
			dead(fake, "upload-parked", "p1", "BadRequest")
			dead(fake, "upload-parked", "p2", "Forbidden")
			tc.opts.Wait = 10 * time.Millisecond
			res, err := s.Replay(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want {
				t.Errorf("result = %+v, want %+v", res, tc.want)
			}
			var moved []string
			for _, m := range fake.messages("upload") {
				orig := m.ApplicationProperties[PropOriginalMessageID].(string)
				moved = append(moved, orig)
				if want := orig + "-r" + "mm7p6yo0"; m.MessageID != want { // fixedNow in ms, base 36
					t.Errorf("replayed MessageID = %s, want %s", m.MessageID, want)
				}
				if _, ok := m.ApplicationProperties[PropReason]; ok {
					t.Errorf("%s: park reason kept", orig)
				}
				if _, ok := m.ApplicationProperties["DeadLetterReason"]; ok {
					t.Errorf("%s: dead-letter reason kept", orig)
				}
				if m.ApplicationProperties[PropSource] != "test" || m.ApplicationProperties[PropReplayedAt] != "2026-03-01T12:00:00Z" {
					t.Errorf("%s: properties %v", orig, m.ApplicationProperties)
				}
				if string(m.Body) != `[{"id":"`+orig+`"}]` {
					t.Errorf("%s: body %s", orig, m.Body)
				}
			}
			if fmt.Sprint(moved) != fmt.Sprint(tc.movedIDs) {
				t.Errorf("moved %v, want %v", moved, tc.movedIDs)
			}
			left := fake.messages("upload/$dlq")
			left = append(left, fake.messages("upload-parked")...)
			if len(left) != tc.remaining {
				t.Errorf("%d left in the sources, want %d", len(left), tc.remaining)
			}
			for _, e := range append(fake.queues["upload/$dlq"], fake.queues["upload-parked"]...) {
				if e.locked {
					t.Errorf("%s still locked after Replay", e.msg.MessageID)
				}
			}
		})
	}
}

func TestServiceBusReplayCompletesOnlyAfterSend(t *testing.T) {
	t.Parallel()
	s, fake := newTestBus(t, 1<<20)
	dead(fake, "upload/$dlq", "d1", "x")
	dead(fake, "upload/$dlq", "d2", "x")
	fake.failSend = 1
	res, err := s.Replay(context.Background(), ReplayOptions{Wait: 10 * time.Millisecond})
	if !errors.Is(err, errFakeSend) {
		t.Fatalf("err = %v", err)
	}
	if res.DeadLetter.Moved != 1 {
		t.Errorf("moved %d, want 1", res.DeadLetter.Moved)
	}
	left := fake.queues["upload/$dlq"]
	if len(left) != 1 || left[0].msg.MessageID != "d2" || left[0].locked {
		t.Errorf("dead-letter queue after a failed send: %d messages", len(left))
	}
	if _, err := s.Replay(context.Background(), ReplayOptions{From: "nowhere"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("From nowhere: %v", err)
	}
}

// TestServiceBusSessions checks that everything sent to the upload queue
// (published and replayed) carries the upload session id, so the upload
// trigger serializes all uploads of the app, and that parked copies do not
// (the parked queue has no sessions).
func TestServiceBusSessions(t *testing.T) {
	t.Parallel()
	s, fake := newTestBus(t, 1<<20)
	batches, _ := batchesOf(3, 2, 0)
	if _, err := s.Publish(context.Background(), batches); err != nil {
		t.Fatal(err)
	}
	m, _ := Encode(batches[0])
	if err := s.Park(context.Background(), m, "BadRequest", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replay(context.Background(), ReplayOptions{From: ReplayFromParked, Wait: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	up := fake.messages("upload")
	if len(up) != 4 {
		t.Fatalf("upload queue holds %d messages, want 3 published + 1 replayed", len(up))
	}
	for _, m := range up {
		if m.SessionID == nil || *m.SessionID != UploadSessionID {
			t.Errorf("message %s: session %v, want %q", m.MessageID, m.SessionID, UploadSessionID)
		}
	}
	for _, m := range fake.messages("upload-parked") {
		if m.SessionID != nil {
			t.Errorf("parked message %s has session %q", m.MessageID, *m.SessionID)
		}
	}
	noSess, err := NewServiceBus(ServiceBusOptions{Queue: "plain", SessionID: "-", Client: fake})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noSess.Publish(context.Background(), batches[:1]); err != nil {
		t.Fatal(err)
	}
	if got := fake.messages("plain"); len(got) != 1 || got[0].SessionID != nil {
		t.Errorf("SessionID \"-\": %+v", got)
	}
}

// Filtered replays leave skipped parked messages replayable: browsing
// doesn't count a delivery, and a message that is received on the way and
// abandoned until the parked queue dead-letters it is still replayed from
// there.
func TestServiceBusReplaySkippedParkedStaysReplayable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, fake := newTestBus(t, 1<<20)
	fake.maxDelivery["upload-parked"] = 10 // the Service Bus default
	dead(fake, "upload-parked", "keep", "BadRequest")
	keep := fake.messages("upload-parked")[0]

	// Nothing matches: nothing is received.
	for range 15 {
		res, err := s.Replay(ctx, ReplayOptions{From: ReplayFromParked, Reason: "forbidden", Wait: 10 * time.Millisecond})
		if err != nil || res.Parked != (ReplayCount{0, 1}) {
			t.Fatalf("replay = %+v, %v", res, err)
		}
	}
	if keep.DeliveryCount != 0 {
		t.Fatalf("browsing counted %d deliveries", keep.DeliveryCount)
	}

	// A match behind it: "keep" is received on the way and abandoned.
	for i := range 15 {
		dead(fake, "upload-parked", fmt.Sprintf("f%d", i), "Forbidden")
		res, err := s.Replay(ctx, ReplayOptions{From: ReplayFromParked, Reason: "forbidden", Wait: 10 * time.Millisecond})
		// "keep" is skipped once, or twice in the replay that moves it to
		// the parked dead-letter queue (browsed after the parked queue).
		if err != nil || res.Parked.Moved != 1 || res.Parked.Skipped < 1 {
			t.Fatalf("replay %d = %+v, %v", i, res, err)
		}
	}
	if n := len(fake.messages("upload-parked/$dlq")); n != 1 {
		t.Fatalf("%d messages in the parked dead-letter queue, want 1 (the fake's max delivery count)", n)
	}

	res, err := s.Replay(ctx, ReplayOptions{From: ReplayFromParked, Reason: "badrequest", Wait: 10 * time.Millisecond})
	if err != nil || res.Parked != (ReplayCount{1, 0}) {
		t.Fatalf("replay of the skipped message = %+v, %v", res, err)
	}
	up := fake.messages("upload")
	last := up[len(up)-1]
	if len(up) != 16 || last.ApplicationProperties[PropOriginalMessageID] != "keep" ||
		last.ApplicationProperties[PropReplayedFrom] != ReplayFromParked || string(last.Body) != `[{"id":"keep"}]` {
		t.Errorf("%d on the upload queue, last %s %v", len(up), last.MessageID, last.ApplicationProperties)
	}
	if n := len(fake.messages("upload-parked")) + len(fake.messages("upload-parked/$dlq")); n != 0 {
		t.Errorf("%d left in the parked queue", n)
	}
}

// TestServiceBusReschedule: a throttled batch goes back to the upload
// queue as a scheduled copy with a new MessageID (duplicate detection must
// not drop it), the upload session and its original properties.
func TestServiceBusReschedule(t *testing.T) {
	t.Parallel()
	s, fake := newTestBus(t, 1<<20)
	batches, _ := batchesOf(1, 3, 0)
	m, _ := Encode(batches[0])
	at := fixedNow.Add(45 * time.Second)
	if err := s.Reschedule(context.Background(), m, at); err != nil {
		t.Fatal(err)
	}
	got := fake.messages("upload")
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	r := got[0]
	if r.MessageID == m.ID || !strings.HasPrefix(r.MessageID, m.ID+"-r") {
		t.Errorf("MessageID %q: want a new id derived from %q", r.MessageID, m.ID)
	}
	if r.ScheduledEnqueueTime == nil || !r.ScheduledEnqueueTime.Equal(at) {
		t.Errorf("scheduled at %v, want %v", r.ScheduledEnqueueTime, at)
	}
	if r.SessionID == nil || *r.SessionID != UploadSessionID {
		t.Errorf("session %v", r.SessionID)
	}
	if r.ApplicationProperties[PropOriginalMessageID] != m.ID || r.ApplicationProperties[PropSource] != "test" {
		t.Errorf("properties %v", r.ApplicationProperties)
	}
	if string(r.Body) != string(m.Body) {
		t.Error("body changed")
	}
}
