package gqlws

import (
	"encoding/json"
	"fmt"
)

// The two subprotocols. graphql-transport-ws is the current one
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md); graphql-ws is the legacy
// protocol of subscriptions-transport-ws
// (https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md), still
// spoken by older Apollo clients. A client that asks for neither gets the legacy one, as gqlgen
// does.
const (
	transportWS = "graphql-transport-ws"
	legacyWS    = "graphql-ws"
)

// message is one protocol message, in either direction.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// kind is what a client message asks for, whatever its subprotocol calls it.
type kind int

const (
	kindUnknown kind = iota
	kindInit
	kindSubscribe
	kindStop
	kindTerminate
	kindPing
	kindPong
)

// Close codes graphql-transport-ws defines (RFC 6455's are gorilla/websocket's Close*).
const (
	closeBadRequest     = 4400
	closeUnauthorized   = 4401
	closeForbidden      = 4403
	closeInitTimeout    = 4408
	closeDuplicateID    = 4409
	closeTooManyInitReq = 4429
)

// dialect is a subprotocol's vocabulary.
type dialect struct {
	legacy bool
}

// kindOf names a client message type in the connection's subprotocol.
func (d dialect) kindOf(t string) kind {
	switch t {
	case "connection_init":
		return kindInit
	case "ping":
		if !d.legacy {
			return kindPing
		}
	case "pong":
		if !d.legacy {
			return kindPong
		}
	case "subscribe":
		if !d.legacy {
			return kindSubscribe
		}
	case "complete":
		if !d.legacy {
			return kindStop
		}
	case "start":
		if d.legacy {
			return kindSubscribe
		}
	case "stop":
		if d.legacy {
			return kindStop
		}
	case "connection_terminate":
		if d.legacy {
			return kindTerminate
		}
	}
	return kindUnknown
}

// next is the type of a message that carries a result.
func (d dialect) next() string {
	if d.legacy {
		return "data"
	}
	return "next"
}

// encode writes a server message. The payload is JSON already.
func encode(id, typ string, payload []byte) []byte {
	b := make([]byte, 0, len(id)+len(typ)+len(payload)+40)
	b = append(b, '{')
	if id != "" {
		idJSON, _ := json.Marshal(id)
		b = append(b, `"id":`...)
		b = append(b, idJSON...)
		b = append(b, ',')
	}
	b = append(b, `"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// errorPayload is the payload of an error or connection_error message: GraphQL errors with a
// message each.
func errorPayload(format string, args ...any) []byte {
	b, _ := json.Marshal([]map[string]string{{"message": fmt.Sprintf(format, args...)}})
	return b
}

// connErrorPayload is the payload of a legacy connection_error message: one error object.
func connErrorPayload(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return b
}
