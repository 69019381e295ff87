package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// indexes lists, per collection, the indexes the store's queries rely on. Each index is named
// explicitly, so that a changed definition fails loudly at start-up (MongoDB refuses a
// different index under an existing name) instead of silently piling up a second index. Keep
// to unique and compound indexes: FerretDB ignores `sparse` and rejects partial and TTL ones.
// Made afresh for each store: the driver's option builders are not safe to share between
// stores opened at once (the race detector saw it when tests opened stores in parallel).
func indexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		webhookEndpointCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "createdAt", Value: 1}}, Options: options.Index().SetName("org_created")},
			{Keys: bson.D{{Key: "status", Value: 1}}, Options: options.Index().SetName("status")},
		},
		webhookDeliveryCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "endpointId", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("org_endpoint_id")},
		},
		apiKeysCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "createdAt", Value: -1}}, Options: options.Index().SetName("org_created")},
		},
		activityCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "mailboxId", Value: 1}, {Key: "scope", Value: 1}, {Key: "gen", Value: 1}}, Options: options.Index().SetName("org_mailbox_scope_gen")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "occurredAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("org_occurred_id")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "mailboxId", Value: 1}, {Key: "occurredAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("org_mailbox_occurred")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "participants.address", Value: 1}, {Key: "occurredAt", Value: -1}}, Options: options.Index().SetName("org_participant_occurred")},
		},
		changeCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "seq", Value: 1}}, Options: options.Index().SetName("org_seq").SetUnique(true)},
			{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetName("at")}, // pruning
		},
		contactCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "mailboxId", Value: 1}, {Key: "scope", Value: 1}, {Key: "gen", Value: 1}}, Options: options.Index().SetName("org_mailbox_scope_gen")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "emails", Value: 1}}, Options: options.Index().SetName("org_emails")}, // participants' contacts
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "displayName", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("org_name")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "changedAt", Value: 1}}, Options: options.Index().SetName("org_changed")}, // retention
		},
		suppressionCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}}, Options: options.Index().SetName("org")},
		},
		graphSubscriptionCollection: {
			{Keys: bson.D{{Key: "subscriptionId", Value: 1}}, Options: options.Index().SetName("subscription")}, // intake
			{Keys: bson.D{{Key: "clientStateHash", Value: 1}}, Options: options.Index().SetName("client_state")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "mailboxId", Value: 1}}, Options: options.Index().SetName("org_mailbox")},
		},
		inboxCollection: {
			{Keys: bson.D{{Key: "notBefore", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("due")},
			{Keys: bson.D{{Key: "orgId", Value: 1}}, Options: options.Index().SetName("org")}, // purge
		},
		notificationLogCollection: {
			{Keys: bson.D{{Key: "doneAt", Value: 1}}, Options: options.Index().SetName("done_at")}, // pruning
			{Keys: bson.D{{Key: "orgId", Value: 1}}, Options: options.Index().SetName("org")},      // purge
		},
		deltaStateCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "mailboxId", Value: 1}}, Options: options.Index().SetName("org_mailbox")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "failures", Value: 1}}, Options: options.Index().SetName("org_failures")}, // the admin's issues
		},
		mailboxCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "displayName", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("org_name")},
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "nextCheckAt", Value: 1}}, Options: options.Index().SetName("org_due")},
			{Keys: bson.D{{Key: "partition", Value: 1}, {Key: "nextCheckAt", Value: 1}}, Options: options.Index().SetName("partition_due")},                                  // probes
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "access", Value: 1}, {Key: "accessChangedAt", Value: -1}}, Options: options.Index().SetName("org_access_changed")}, // newly blocked
		},
		consentStateCollection: {
			{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("expires")},
		},
		tenantBindingCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}}, Options: options.Index().SetName("org")},
		},
		auditCollection: {
			{Keys: bson.D{{Key: "orgId", Value: 1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("org_id")},
			{Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetName("at")},
		},
	}
}

// pushdownFields names, for every collection, the top-level fields besides `_id` that the
// store's frequent queries compare for equality (a mailbox's documents, an incoming
// notification's subscription): on FerretDB over PostgreSQL each gets an index that serves
// FerretDB's form of that comparison. See pushdownIndexes (store/pushdown.go). It lists every collection: on
// PostgreSQL each is created under the schema lock before FerretDB serves a process (lockSchema).
var pushdownFields = map[string][]string{
	activityCollection:          {"mailboxId"},
	contactCollection:           {"mailboxId"},
	deltaStateCollection:        {"mailboxId"},
	changeCollection:            nil,
	changeHeadCollection:        nil,
	graphSubscriptionCollection: {"mailboxId", "subscriptionId", "clientStateHash"},
	inboxCollection:             nil,
	notificationLogCollection:   nil,
	leaseCollection:             nil,
	mailboxCollection:           nil,
	mailboxGenCollection:        nil,
	syncStateCollection:         nil,
	capturePolicyCollection:     nil,
	privacyPolicyCollection:     nil,
	suppressionCollection:       nil,
	orgsCollection:              nil,
	apiKeysCollection:           nil,
	auditCollection:             nil,
	teamAccessCollection:        nil,
	tenantBindingCollection:     {"orgId"},
	consentStateCollection:      nil,
	webhookEndpointCollection:   nil,
	webhookDeliveryCollection:   nil,
	metaCollection:              nil,
}

// ensureIndexes creates any missing index. Creating an index that already exists with the same
// definition is a no-op, so this runs on every start.
func ensureIndexes(ctx context.Context, db *mongo.Database, specs map[string][]mongo.IndexModel) error {
	for _, coll := range slices.Sorted(maps.Keys(specs)) {
		// One at a time: FerretDB 1.24 drops the connection when one createIndexes command
		// names several indexes that exist already on a collection holding documents.
		for _, m := range specs[coll] {
			if _, err := db.Collection(coll).Indexes().CreateOne(ctx, m); err != nil {
				return fmt.Errorf("create index on %s: %w", coll, err)
			}
		}
	}
	return nil
}
