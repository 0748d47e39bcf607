require ["include", "imap4flags"];
include "fanout3"; include "fanout3"; include "fanout3"; include "fanout3"; include "fanout3";
include "fanout3"; include "fanout3"; include "fanout3"; include "fanout3"; include "fanout3";
