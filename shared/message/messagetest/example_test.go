package messagetest_test

import (
	"fmt"
	"strings"

	"github.com/moatmail/moat/shared/message/messagetest"
)

func Example() {
	raw := messagetest.New().
		Received("192.0.2.1").
		From("alice@example.org").
		To("bob@example.com").
		Subject("Quarterly report").
		Text("See attached.").
		Attach("report.pdf", "application/pdf", []byte("%PDF-1.4\n")).
		Header("X-Campaign", "q3").
		String()
	fmt.Print(strings.ReplaceAll(raw, "\r\n", "\n"))
	// Output:
	// Received: from mail.example.org (mail.example.org [192.0.2.1])
	// 	by inbound-smtp.us-east-1.amazonaws.com with SMTP id messagetest1
	// 	for <c@example.com>; Thu, 01 Jan 2026 00:00:00 +0000
	// X-Campaign: q3
	// From: alice@example.org
	// To: bob@example.com
	// Subject: Quarterly report
	// Date: Thu, 01 Jan 2026 00:00:00 +0000
	// Message-ID: <messagetest.1@example.test>
	// MIME-Version: 1.0
	// Content-Type: multipart/mixed; boundary="=_moat_mixed_1"
	//
	// This is a multi-part message in MIME format.
	//
	// --=_moat_mixed_1
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: quoted-printable
	//
	// See attached.
	// --=_moat_mixed_1
	// Content-Type: application/pdf; name=report.pdf
	// Content-Disposition: attachment; filename=report.pdf
	// Content-Transfer-Encoding: base64
	//
	// JVBERi0xLjQK
	//
	// --=_moat_mixed_1--
}
