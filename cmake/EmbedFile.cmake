# Writes a C++ source that holds a file's bytes (the report's plotting library), so reports need nothing at run time.
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -DNAMESPACE=ns -P EmbedFile.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/EmbedFile.cmake.\n"
  "namespace ${NAMESPACE} {\n"
  "static const char ${SYMBOL}_bytes[] = {${bytes}0x00};\n"
  "extern const bool ${SYMBOL}Available = true;\n"
  "extern const char* const ${SYMBOL} = ${SYMBOL}_bytes;\n"
  "}  // namespace ${NAMESPACE}\n")
