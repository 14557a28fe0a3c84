package tracking_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/tracking"
)

// Search pages through a week of blocked mail from one client IP, newest first.
func ExampleStore_Search() {
	ctx := context.Background()
	s := tracking.New(&dynamodb.Client{}, "Tracking", 0)
	until := time.Now()
	q := tracking.Query{Since: until.AddDate(0, 0, -7), Until: until, ClientIP: "203.0.113.7", Traffic: tracking.Blocked, Limit: 100}
	for {
		page, err := s.Search(ctx, q)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range page.Records {
			fmt.Println(r.Time.Format(time.RFC3339), r.MessageID, r.Status)
		}
		if page.Cursor == "" {
			return
		}
		q.Cursor = page.Cursor
	}
}

// Delivery outcomes append to the record's history; duplicate receipt events create nothing.
func ExampleStore_SetStatus() {
	ctx := context.Background()
	s := tracking.New(&dynamodb.Client{}, "Tracking", 90*24*time.Hour)
	now := time.Now()
	rec := tracking.Record{MessageID: "0100018f-example", Recipient: "bob@example.com", Time: now,
		Direction: tracking.Inbound, Traffic: tracking.Accepted, Status: tracking.Queued}
	if created, err := s.Create(ctx, rec); err != nil || !created {
		return // an error to retry, or a duplicate event already handled
	}
	err := s.SetStatus(ctx, rec.MessageID, rec.Recipient, tracking.Delivered, "250 2.0.0 Ok: queued as 4F2", now)
	if err != nil {
		fmt.Println(err)
	}
}
