package filetype

// Detect returns the true type of content whose first bytes are head. (Stub: replaced by the
// real magic-number table.)
func Detect(head []byte) Type { return Unknown }
