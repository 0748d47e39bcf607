require ["include", "imap4flags"];
include "fanout2"; include "fanout2"; include "fanout2"; include "fanout2"; include "fanout2";
include "fanout2"; include "fanout2"; include "fanout2"; include "fanout2"; include "fanout2";
