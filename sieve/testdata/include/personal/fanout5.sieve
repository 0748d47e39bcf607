require ["include", "imap4flags"];
include "fanout6"; include "fanout6"; include "fanout6"; include "fanout6"; include "fanout6";
include "fanout6"; include "fanout6"; include "fanout6"; include "fanout6"; include "fanout6";
