package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Delivery is the delivery side of the mail flow: the Delivery queue (made by Storage from
// shared/schema, with its dead-letter queue) and, once functions/deliver exists, its consumer.
// The delivery issue adds the function with Functions.New and wires it with AddConsumer.
type Delivery struct {
	Construct constructs.Construct // the scope of its resources
	Queue     *Queue
	Deliver   *Function // nil until functions/deliver exists
}

// DeliveryProps are what delivery uses.
type DeliveryProps struct {
	Queue *Queue
}

// NewDelivery creates the delivery construct.
func NewDelivery(scope constructs.Construct, id string, p DeliveryProps) *Delivery {
	return &Delivery{Construct: constructs.NewConstruct(scope, jsii.String(id)), Queue: p.Queue}
}

// AddConsumer makes fn the queue's consumer: batches with partial batch responses (the handler
// returns only the items worth retrying), and the grants to receive and delete messages. The
// function's timeout must stay below the queue's visibility timeout.
func (d *Delivery) AddConsumer(fn *Function, batchSize int) {
	d.Deliver = fn
	fn.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(d.Queue.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(batchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(5)),
	}))
}
