package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// installationDocID is the _id of the document that identifies the installation.
const installationDocID = "installation"

// Installation identifies a database that teamaccess processes share.
type Installation struct {
	ID        string    `bson:"id"`
	CreatedAt time.Time `bson:"createdAt"`
	// Starts counts the teamaccess processes that have opened this database.
	Starts int `bson:"starts"`
}

// Engine names the kind of server behind the wire protocol.
type Engine string

// The engines teamaccess recognises.
const (
	EngineMongoDB  Engine = "MONGODB"
	EngineFerretDB Engine = "FERRETDB"
)

// Info describes the database server and the data layout in it.
type Info struct {
	Engine        Engine
	ServerVersion string
	Embedded      bool
	Database      string
	SchemaVersion int
}

// moduleVersion finds the version of a module linked into this binary.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}

// createInstallation is migration 1: give the installation its identity.
func createInstallation(ctx context.Context, db *mongo.Database) error {
	var id [16]byte
	_, _ = rand.Read(id[:])
	update := bson.D{{Key: "$setOnInsert", Value: bson.D{
		{Key: "id", Value: hex.EncodeToString(id[:])},
		{Key: "createdAt", Value: time.Now().UTC().Truncate(time.Millisecond)},
		{Key: "starts", Value: 0},
	}}}
	_, err := db.Collection(metaCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: installationDocID}}, update, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("create installation record: %w", err)
	}
	return nil
}

// recordStart counts this process's start.
func (s *Store) recordStart(ctx context.Context) error {
	_, err := s.collection(metaCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: installationDocID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "starts", Value: 1}}}})
	if err != nil {
		return fmt.Errorf("record start: %w", err)
	}
	return nil
}

// Installation reads the installation's identity.
func (s *Store) Installation(ctx context.Context) (Installation, error) {
	var in Installation
	err := s.collection(metaCollection).FindOne(ctx, bson.D{{Key: "_id", Value: installationDocID}}).Decode(&in)
	if err != nil {
		return Installation{}, fmt.Errorf("read installation: %w", err)
	}
	return in, nil
}

// Info asks the server what it is and reads the schema version.
func (s *Store) Info(ctx context.Context) (Info, error) {
	bi, err := s.buildInfo(ctx)
	if err != nil {
		return Info{}, err
	}
	version, err := schemaVersion(ctx, s.db)
	if err != nil {
		return Info{}, err
	}
	info := Info{
		Engine:        EngineMongoDB,
		Embedded:      s.Embedded(),
		Database:      s.db.Name(),
		SchemaVersion: version,
	}
	info.ServerVersion, _ = bi["version"].(string)
	if fv, ok := bi["ferretdbVersion"].(string); ok {
		info.Engine = EngineFerretDB
		if fv == "" || fv == "unknown" { // embedded FerretDB does not know its own version
			fv = "FerretDB " + moduleVersion("github.com/FerretDB/FerretDB")
		}
		info.ServerVersion = fv + " (MongoDB " + info.ServerVersion + " compatible)"
	}
	return info, nil
}
