package auth

// The GraphQL schema's Node interface (a refetchable object with a global ID) asks its
// implementations for IsNode and GetID. Declaring them here lets the generated code bind
// straight to these types, without a copy of each in the graph package.

// IsNode marks an Organization as a GraphQL Node.
func (Organization) IsNode() {}

// GetID is the Organization's global ID.
func (o Organization) GetID() string { return o.ID }

// IsNode marks a Key as a GraphQL Node.
func (Key) IsNode() {}

// GetID is the Key's global ID.
func (k Key) GetID() string { return k.ID }

// IsNode marks an AuditEntry as a GraphQL Node.
func (AuditEntry) IsNode() {}

// GetID is the AuditEntry's global ID.
func (e AuditEntry) GetID() string { return e.ID }
