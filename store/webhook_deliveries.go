package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The delivery log. A failed attempt is a document of its own; the successful attempts a worker
// writes at once (a quarter of a second of a burst, 1,000 at most) are one document, a column per field,
// its _id the first attempt's. On the embedded store a document costs about 155 us of CPU to
// insert and a batch of 100 in columns 47 us an attempt (a throwaway benchmark of 100 attempts
// per write: 100 documents 15.4-15.8 ms, one with an array of 100 subdocuments 8.7-9.1 ms, one
// with columns 4.7 ms); in BenchmarkWebhookDelivery the documents had been a quarter of the
// delivering process's CPU. Attempts are numbered (their ids) in the order they are recorded,
// so the documents' ranges never overlap and a page reads at most as many documents as it
// returns attempts.

// deliveryBatch is the successful attempts of one write, in columns.
type deliveryBatch struct {
	IDs       []bson.ObjectID `bson:"ids"`
	EventIDs  []string        `bson:"eventIds"`
	Cursors   []string        `bson:"cursors"`
	Attempts  []int           `bson:"attempts"`
	AtMs      []int64         `bson:"atMs"`
	Status    []int           `bson:"status"`
	LatencyUs []int64         `bson:"latencyUs"`
	Responses []string        `bson:"responses,omitempty"` // none when every answer was empty
}

// deliveryDoc is a document of the log: one attempt, or a batch.
type deliveryDoc struct {
	WebhookDelivery `bson:",inline"`
	Batch           *deliveryBatch `bson:"batch,omitempty"`
}

// batchDoc is how a batch is written: only the fields it has.
type batchDoc struct {
	ID         bson.ObjectID `bson:"_id"`
	OrgID      string        `bson:"orgId"`
	EndpointID string        `bson:"endpointId"`
	Batch      deliveryBatch `bson:"batch"`
}

// InsertWebhookDeliveries records successful attempts of one endpoint in one document; their
// ids must be later than those of every attempt recorded before them.
func (o OrgScope) InsertWebhookDeliveries(ctx context.Context, ds []WebhookDelivery) error {
	switch len(ds) {
	case 0:
		return nil
	case 1:
		return o.InsertWebhookDelivery(ctx, ds[0])
	}
	ds = slices.SortedFunc(slices.Values(ds), func(a, b WebhookDelivery) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	var b deliveryBatch
	responses := false
	for _, d := range ds {
		b.IDs, b.EventIDs, b.Cursors, b.Attempts = append(b.IDs, d.ID), append(b.EventIDs, d.EventID), append(b.Cursors, d.Cursor), append(b.Attempts, d.Attempt)
		b.AtMs, b.Status, b.LatencyUs = append(b.AtMs, d.At.UnixMilli()), append(b.Status, d.Status), append(b.LatencyUs, d.Latency.Microseconds())
		responses = responses || d.Response != ""
	}
	if responses {
		for _, d := range ds {
			b.Responses = append(b.Responses, d.Response)
		}
	}
	doc := batchDoc{ID: ds[0].ID, OrgID: o.org, EndpointID: ds[0].EndpointID, Batch: b}
	if _, err := o.s.collection(webhookDeliveryCollection).InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("record webhook deliveries: %w", err)
	}
	return nil
}

// WebhookDeliveries reads an endpoint's attempts, newest first, up to limit, before the given
// id (zero: from the newest).
func (o OrgScope) WebhookDeliveries(ctx context.Context, endpointID string, before bson.ObjectID, limit int) ([]WebhookDelivery, error) {
	f := o.filter(bson.E{Key: "endpointId", Value: endpointID})
	if !before.IsZero() {
		f = append(f, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: before}}})
	}
	// Each document found holds at least one attempt before the id (its first): limit of them
	// are enough.
	docs, err := findAll[deliveryDoc](ctx, o.s.collection(webhookDeliveryCollection), "list webhook deliveries", f,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var out []WebhookDelivery
	for _, d := range docs {
		for _, a := range d.attempts() {
			if before.IsZero() || bytes.Compare(a.ID[:], before[:]) < 0 {
				out = append(out, a)
			}
		}
	}
	// A test event sent during a burst may fall within a batch's range.
	slices.SortFunc(out, func(a, b WebhookDelivery) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	return out[:min(len(out), limit)], nil
}

// attempts are the document's attempts, newest first.
func (d deliveryDoc) attempts() []WebhookDelivery {
	b := d.Batch
	if b == nil {
		return []WebhookDelivery{d.WebhookDelivery}
	}
	n := len(b.IDs)
	if len(b.EventIDs) != n || len(b.Cursors) != n || len(b.Attempts) != n || len(b.AtMs) != n || len(b.Status) != n || len(b.LatencyUs) != n ||
		(b.Responses != nil && len(b.Responses) != n) {
		return nil // not written by InsertWebhookDeliveries
	}
	out := make([]WebhookDelivery, n)
	for i := range n {
		a := WebhookDelivery{ID: b.IDs[i], OrgID: d.OrgID, EndpointID: d.EndpointID, EventID: b.EventIDs[i], Cursor: b.Cursors[i], Attempt: b.Attempts[i],
			At: time.UnixMilli(b.AtMs[i]).UTC(), Status: b.Status[i], Latency: time.Duration(b.LatencyUs[i]) * time.Microsecond}
		if b.Responses != nil {
			a.Response = b.Responses[i]
		}
		out[n-1-i] = a
	}
	return out
}

// PruneWebhookDeliveries deletes the delivery log's attempts, of every organisation, recorded
// before a time (a batch goes by its first attempt's).
func (s *Store) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.deleteInBatches(ctx, webhookDeliveryCollection, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: bson.NewObjectIDFromTimestamp(before)}}}})
	if err != nil {
		return n, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return n, nil
}
