package message

// Defect codes. Each is recorded at most once in Message.Defects, in the order first noticed.
// They are stable machine strings: content rules and the verdict trail may name them.
const (
	// DefectNoHeader: the message does not start with a header section (binary garbage, or a
	// blank first line). Unscannable.
	DefectNoHeader = "no-header"
	// DefectHeaderTooLarge: a header section is over Options.MaxHeaderBytes. Unscannable; the
	// rest of the message is read and counted but not parsed.
	DefectHeaderTooLarge = "header-too-large"
	// DefectMIMEDepth: multipart or message/rfc822 nesting is deeper than Options.MaxMIMEDepth.
	// Unscannable; the too-deep entity is skipped.
	DefectMIMEDepth = "mime-depth"
	// DefectTooManyParts: more leaf parts than Options.MaxParts. Unscannable; the extra parts
	// are read but not recorded.
	DefectTooManyParts = "too-many-parts"

	// DefectHeaderNoColon: a header line without a colon, or with an invalid field name. Skipped.
	DefectHeaderNoColon = "header-no-colon"
	// DefectHeaderContinuation: a folded (indented) header line with no field before it. Skipped.
	DefectHeaderContinuation = "header-continuation"
	// DefectBadAddress: an address header (From, Reply-To, To, Cc) is not RFC 5322; the
	// addresses were extracted leniently (<addr> or a bare addr@domain).
	DefectBadAddress = "bad-address"
	// DefectBadContentType: a Content-Type without type/subtype; treated as text/plain.
	DefectBadContentType = "bad-content-type"
	// DefectMissingBoundary: a multipart without a boundary parameter, or whose boundary never
	// appears; its body is treated as one text part.
	DefectMissingBoundary = "missing-boundary"
	// DefectBadBoundary: a boundary parameter too long to be real (over 200 bytes); the body is
	// treated as one text part.
	DefectBadBoundary = "bad-boundary"
	// DefectUnterminatedMultipart: a multipart ended (by end of input or an outer boundary)
	// without its closing delimiter.
	DefectUnterminatedMultipart = "unterminated-multipart"
	// DefectBadBase64: invalid characters or a dangling character in base64 content; skipped.
	DefectBadBase64 = "bad-base64"
	// DefectBadQuotedPrintable: an "=" not followed by two hex digits; kept literally.
	DefectBadQuotedPrintable = "bad-quoted-printable"
	// DefectUnknownEncoding: an unknown Content-Transfer-Encoding; the content is taken raw.
	DefectUnknownEncoding = "unknown-transfer-encoding"
	// DefectEncodedContainer: a multipart or message/rfc822 entity with a base64 or
	// quoted-printable transfer encoding (RFC 2045 forbids it). On a multipart it is ignored,
	// as mail clients do; a message/rfc822 is decoded and parsed, as a client saving it would.
	DefectEncodedContainer = "encoded-container"
	// DefectNotMessage: a message/rfc822 entity whose content is a file (its first line is not
	// a header field and it starts with a file signature); it is scanned as a file part.
	DefectNotMessage = "not-a-message"
	// DefectUnknownCharset: a text part in a charset we cannot decode; its bytes are taken as
	// UTF-8 when valid, else as Latin-1.
	DefectUnknownCharset = "unknown-charset"
)

// defect records code once.
func (st *state) defect(code string) {
	for _, d := range st.msg.Defects {
		if d == code {
			return
		}
	}
	st.msg.Defects = append(st.msg.Defects, code)
}

// unscannable records code as a defect and, if no reason is set yet, as the reason the message
// cannot be scanned.
func (st *state) unscannable(code string) {
	if st.msg.Unscannable == "" {
		st.msg.Unscannable = code
	}
	st.defect(code)
}
