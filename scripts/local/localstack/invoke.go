package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// inboundFunctionName is the local inbound function's name in its ARN.
const inboundFunctionName = "moat-local-inbound"

func (s *Stack) inboundARN() string {
	return "arn:aws:lambda:" + s.Region + ":000000000000:function:" + inboundFunctionName
}

// failureRecord is what Lambda sends to an on-failure destination after the retries of an
// asynchronous invocation.
type failureRecord struct {
	Version        string          `json:"version"`
	Timestamp      time.Time       `json:"timestamp"`
	RequestContext failureContext  `json:"requestContext"`
	RequestPayload json.RawMessage `json:"requestPayload"`
	Response       struct {
		StatusCode    int    `json:"statusCode"`
		FunctionError string `json:"functionError"`
	} `json:"responseContext"`
	ResponsePayload struct {
		ErrorMessage string `json:"errorMessage"`
	} `json:"responsePayload"`
}

type failureContext struct {
	RequestID   string `json:"requestId"`
	FunctionARN string `json:"functionArn"`
	Condition   string `json:"condition"`
	InvokeCount int    `json:"approximateInvokeCount"`
}

// createFailureQueue creates the on-failure queue of the inbound function.
func (s *Stack) createFailureQueue(ctx context.Context, suffix string) error {
	out, err := sqs.NewFromConfig(s.AWS).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("InboundFailures-" + suffix)})
	if err != nil {
		return fmt.Errorf("create the inbound failure queue: %w", err)
	}
	s.failures = aws.ToString(out.QueueUrl)
	return nil
}

// giveUp sends a failed event to the on-failure queue, as Lambda does after its retries.
func (s *Stack) giveUp(ev events.SimpleEmailEvent, attempts int, cause error) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	rec := failureRecord{Version: "1.0", Timestamp: time.Now().UTC(), RequestPayload: payload,
		RequestContext: failureContext{RequestID: newMessageID()[:32], FunctionARN: s.inboundARN() + ":$LATEST", Condition: "RetriesExhausted", InvokeCount: attempts}}
	rec.Response.StatusCode, rec.Response.FunctionError = 200, "Unhandled"
	rec.ResponsePayload.ErrorMessage = cause.Error()
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = sqs.NewFromConfig(s.AWS).SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(s.failures), MessageBody: aws.String(string(body))})
	return err
}

// serveInvoke answers the Lambda Invoke API for the inbound function on loopback
// (POST /2015-03-31/functions/<name or ARN>/invocations, Event invocations only), so that
// moatctl redrive replays failed events into the local stack as it does into Lambda.
func (s *Stack) serveInvoke(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handleInvoke), ReadHeaderTimeout: 10 * time.Second}
	s.httpServers = append(s.httpServers, srv)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("invoke endpoint stopped", "error", err)
		}
	}()
}

func (s *Stack) handleInvoke(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, typ, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
	name, ok2 := strings.CutSuffix(name, "/invocations")
	if r.Method != http.MethodPost || !ok || !ok2 {
		fail(http.StatusNotFound, "ResourceNotFoundException", "unknown path "+r.URL.Path)
		return
	}
	if name != inboundFunctionName && !strings.HasPrefix(name, s.inboundARN()) {
		fail(http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	if t := r.Header.Get("X-Amz-Invocation-Type"); t != "Event" {
		fail(http.StatusBadRequest, "InvalidParameterValueException", "the local stack takes Event invocations only, not "+t)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	if err != nil {
		fail(http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	var ev events.SimpleEmailEvent
	if err := json.Unmarshal(body, &ev); err != nil || len(ev.Records) == 0 {
		fail(http.StatusBadRequest, "InvalidRequestContentException", "the payload is not an SES receipt event")
		return
	}
	s.invoke(ev)
	w.WriteHeader(http.StatusAccepted)
}
