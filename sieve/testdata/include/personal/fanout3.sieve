require ["include", "imap4flags"];
include "fanout4"; include "fanout4"; include "fanout4"; include "fanout4"; include "fanout4";
include "fanout4"; include "fanout4"; include "fanout4"; include "fanout4"; include "fanout4";
