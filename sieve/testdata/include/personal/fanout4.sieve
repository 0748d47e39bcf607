require ["include", "imap4flags"];
include "fanout5"; include "fanout5"; include "fanout5"; include "fanout5"; include "fanout5";
include "fanout5"; include "fanout5"; include "fanout5"; include "fanout5"; include "fanout5";
