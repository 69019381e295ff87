package store

import (
	"context"
	"fmt"
	"hash/fnv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Partitions is the number of partitions the Graph work is split into (package partition holds
// them): fixed, so that a mailbox is always in the same one. Mailboxes and inbox entries carry
// their partition, so that each process queries only its own.
const Partitions = 64

// MailboxPartition is the partition of an organisation's mailbox.
func MailboxPartition(orgID, mailboxID string) int { return partitionHash(orgID + "|" + mailboxID) }

// TenantPartition is the partition of an organisation's tenant-wide work.
func TenantPartition(orgID string) int { return partitionHash(orgID) }

func partitionHash(s string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return int(h.Sum32() % Partitions)
}

// inPartitions narrows a filter to the given partitions; nil is every partition.
func inPartitions(f bson.D, partitions []int) bson.D {
	if partitions == nil {
		return f
	}
	return append(f, bson.E{Key: "partition", Value: bson.D{{Key: "$in", Value: partitions}}})
}

// partitionMailboxes gives the mailboxes and pending inbox entries written before they carried
// their partition their partition.
func partitionMailboxes(ctx context.Context, db *mongo.Database) error {
	for _, name := range []string{mailboxCollection, inboxCollection} {
		coll := db.Collection(name)
		cur, err := coll.Find(ctx, bson.D{{Key: "partition", Value: bson.D{{Key: "$exists", Value: false}}}},
			options.Find().SetProjection(bson.D{{Key: "orgId", Value: 1}, {Key: "userId", Value: 1}, {Key: "mailboxId", Value: 1}}))
		if err != nil {
			return fmt.Errorf("partition %s: %w", name, err)
		}
		var rows []struct {
			ID        any    `bson:"_id"`
			OrgID     string `bson:"orgId"`
			UserID    string `bson:"userId"`
			MailboxID string `bson:"mailboxId"`
		}
		if err := cur.All(ctx, &rows); err != nil {
			return fmt.Errorf("partition %s: %w", name, err)
		}
		var models []mongo.WriteModel
		for _, r := range rows {
			mb := r.UserID
			if name == inboxCollection {
				mb = r.MailboxID
			}
			models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: r.ID}}).
				SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "partition", Value: MailboxPartition(r.OrgID, mb)}}}}))
		}
		for len(models) > 0 {
			n := min(len(models), 1000)
			if _, err := coll.BulkWrite(ctx, models[:n], options.BulkWrite().SetOrdered(false)); err != nil {
				return fmt.Errorf("partition %s: %w", name, err)
			}
			models = models[n:]
		}
	}
	return nil
}
