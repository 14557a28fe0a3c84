package audit

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// SESSource names targets found among the account's SES dedicated IPs.
const SESSource = "ses-dedicated"

// DedicatedIPs is the part of the SES v2 client that lists the account's dedicated IPs.
type DedicatedIPs interface {
	GetDedicatedIps(ctx context.Context, in *sesv2.GetDedicatedIpsInput, opts ...func(*sesv2.Options)) (*sesv2.GetDedicatedIpsOutput, error)
}

// SESDedicatedIPs returns the account's SES dedicated IPs (every pool, page by page). An
// account without any returns none.
func SESDedicatedIPs(ctx context.Context, c DedicatedIPs) ([]netip.Addr, error) {
	var ips []netip.Addr
	in := &sesv2.GetDedicatedIpsInput{PageSize: aws.Int32(100)}
	for {
		out, err := c.GetDedicatedIps(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list SES dedicated IPs: %w", err)
		}
		for _, d := range out.DedicatedIps {
			ip, err := netip.ParseAddr(aws.ToString(d.Ip))
			if err != nil {
				return nil, fmt.Errorf("list SES dedicated IPs: %q is not an address", aws.ToString(d.Ip))
			}
			ips = append(ips, ip)
		}
		if aws.ToString(out.NextToken) == "" {
			return ips, nil
		}
		in.NextToken = out.NextToken
	}
}
