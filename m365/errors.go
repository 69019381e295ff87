package m365

import (
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/teamaccess/teamaccess/graphdata"
)

// newGraphError reads a failed Graph call's error: Microsoft's status, code and message, or the
// identity platform's refusal of the token.
func newGraphError(op string, err error) *GraphError {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		id := classify(err)
		return &GraphError{Op: op, Message: oneLine(id.Error()), Identity: id}
	}
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return &GraphError{Op: op, Message: oneLine(err.Error())}
	}
	code, msg := odataDetail(oe)
	return &GraphError{Op: op, Status: oe.ResponseStatusCode, Code: code, Message: oneLine(msg)}
}

// odataDetail is a Graph error's code and message.
func odataDetail(oe *odataerrors.ODataError) (code, msg string) {
	msg = oe.Error()
	if me := oe.GetErrorEscaped(); me != nil {
		if me.GetCode() != nil {
			code = *me.GetCode()
		}
		if me.GetMessage() != nil {
			msg = *me.GetMessage()
		}
	}
	return code, msg
}

func oneLine(s string) string { return graphdata.OneLine(s) }
