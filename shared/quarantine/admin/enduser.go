package admin

import "github.com/moatmail/moat/shared/verdict"

// End users see and release only spam and graymail: copies held for one of these reasons ...
var endUserCodes = map[verdict.Code]bool{
	verdict.Spam:              true,
	verdict.DNSBLListed:       true,
	verdict.IPDynamicBlock:    true,
	verdict.SenderBlockedUser: true,
}

// ... with nothing else in the trail but these remarks, which do not hold mail by themselves.
var neutralCodes = map[verdict.Code]bool{
	verdict.SPFFail:             true,
	verdict.DKIMFail:            true,
	verdict.IPAllowed:           true,
	verdict.DNSBLNoted:          true,
	verdict.DNSBLError:          true,
	verdict.DNSBLTimeout:        true,
	verdict.SenderApprovalGuard: true,
	verdict.Released:            true,
}

// EndUserVisible reports whether an end user may see and release a copy quarantined with this
// verdict trail: it holds a spam or graymail reason (spam, dnsbl-listed, ip-dynamic-block,
// sender-blocked-user) and otherwise only remarks (spf-fail, dkim-fail, dnsbl-noted, ...).
// Any other reason — virus, phishing, DMARC, attachments and archives, content rules, limits,
// administrators' lists, unscannable mail, and codes added later until they are listed here —
// keeps the copy for administrators.
func EndUserVisible(rs []verdict.Reason) bool {
	spam := false
	for _, r := range rs {
		switch {
		case endUserCodes[r.Code]:
			spam = true
		case !neutralCodes[r.Code]:
			return false
		}
	}
	return spam
}
