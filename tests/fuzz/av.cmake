# postern-av: message assembly from milter callbacks (the one parser of untrusted input that
# is ours; MIME, archives and the rest are libclamav's).
if(TARGET postern_av_core)
  postern_fuzz_target(av_message_fuzz av_message_fuzz.cpp LIBS postern_av_core)
endif()
