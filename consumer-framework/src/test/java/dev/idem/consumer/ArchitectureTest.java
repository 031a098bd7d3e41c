package dev.idem.consumer;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaCodeUnit;
import com.tngtech.archunit.core.domain.JavaField;
import com.tngtech.archunit.core.domain.JavaModifier;
import com.tngtech.archunit.core.domain.JavaType;
import com.tngtech.archunit.core.domain.properties.HasModifiers;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import dev.idem.consumer.internal.dispatch.GroupRunner;
import dev.idem.consumer.internal.dispatch.Work;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The layering of idem's main code, enforced by the build.
 *
 * <p>The rules look at idem's main classes on this module's classpath ({@code dev.idem..}, without
 * test classes and without the testkit, which is a test-only library): this module's own classes
 * and the advisory-lock library's, on which it depends, so the rules about {@code dev.idem.lock}
 * watch it from here (its own module tests what it must not need: Kafka, HikariCP).
 *
 * <p>Cycles: a public package and its own {@code .internal} subpackages necessarily use each other
 * (the facade wires the internals, the internals take the API's configuration and handler types),
 * so a cycle rule over single packages would refuse the house layout itself. The unit is therefore
 * a component, a top-level package with everything below it ({@code dev.idem.consumer..}, {@code
 * dev.idem.lock..}, {@code dev.idem.internal..}): components must not form a cycle, and inside the
 * consumer the internal packages must not form one among each other.
 *
 * <p>SQL text cannot be seen in class files with ArchUnit (string constants are inlined into the
 * constant pool, and ArchUnit does not model literals), so {@link #onlyTheStoresHoldSqlText()}
 * reads the two libraries' {@code src/main/java} trees instead (comments removed): it finds string
 * literals and text blocks that hold an SQL statement and asserts that the file's package is one of
 * the places allowed to hold SQL. A literal counts when it starts with {@code SELECT} or holds
 * {@code SELECT ... FROM}, {@code INSERT INTO}, {@code UPDATE x SET}, {@code DELETE FROM}, {@code
 * CREATE}/{@code ALTER}/{@code DROP} of a table, index, schema, function or sequence, {@code SET
 * LOCAL}, or a PostgreSQL function call ({@code pg_...(}). Upper case only: idem writes SQL in
 * upper case, and prose in messages ("update the setting", "one SELECT 1 per transaction") must not
 * count. A statement quoted to the operator in an error message counts too: it depends on the
 * schema and the lock encoding as much as executed SQL does. SQL in {@code .sql} resources is fine
 * anywhere.
 */
class ArchitectureTest {
  /** Packages (and single classes) allowed to hold SQL text. */
  private static final List<Pattern> SQL_HOMES =
      List.of(
          Pattern.compile("dev\\.idem\\..*\\binternal\\.store(\\..*)?"),
          // The lock library's SQL: its statements, and the migrator that applies script sets.
          Pattern.compile("dev\\.idem\\.lock\\.internal\\.(LockSql|SchemaMigrator)"),
          // The transaction template's one statement: the query state check's SELECT 1.
          Pattern.compile("dev\\.idem\\.internal\\.jdbc\\.Transactions"));

  /** The main source trees of the two libraries, from this module's directory. */
  private static final List<Path> SOURCE_ROOTS =
      List.of(
          Paths.get("src", "main", "java"),
          Paths.get("..", "advisory-locks", "src", "main", "java"));

  private static final Pattern STRING_LITERAL =
      Pattern.compile("\"\"\"(.*?)\"\"\"|\"((?:[^\"\\\\\\n]|\\\\.)*)\"", Pattern.DOTALL);

  private static final Pattern SQL =
      Pattern.compile(
          "^\\s*SELECT\\s|\\bSELECT\\s.*\\bFROM\\b|\\bINSERT\\s+INTO\\b|\\bUPDATE\\s+\\S+\\s+SET\\b|\\bDELETE\\s+FROM\\b"
              + "|\\b(CREATE|ALTER|DROP)\\s+(TABLE|INDEX|UNIQUE|SCHEMA|FUNCTION|SEQUENCE)\\b"
              + "|\\bSET\\s+LOCAL\\b|\\bpg_[a-z_]+\\s*\\(",
          Pattern.DOTALL);

  private static JavaClasses main;

  @BeforeAll
  static void importMainClasses() {
    main =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .withImportOption(location -> !location.contains("/dev/idem/testkit/"))
            .importPackages("dev.idem");
    assertThat(main.contain(IdempotentConsumer.class)).isTrue();
  }

  @Test
  void idemComponentsHaveNoCycles() {
    slices().matching("dev.idem.(*)..").should().beFreeOfCycles().check(main);
  }

  @Test
  void internalPackagesOfTheConsumerHaveNoCyclesAmongEachOther() {
    slices().matching("dev.idem.consumer.internal.(*)..").should().beFreeOfCycles().check(main);
  }

  @Test
  void noInternalTypeAppearsInAPublicSignatureOutsideInternalPackages() {
    classes()
        .that()
        .resideOutsideOfPackage("..internal..")
        .and(effectivelyPublic())
        .should(exposeNoInternalType())
        .check(main);
  }

  @Test
  void theLockToolkitImportsNothingFromTheConsumer() {
    noClasses()
        .that()
        .resideInAPackage("dev.idem.lock..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("dev.idem.consumer..")
        .check(main);
  }

  @Test
  void theSignatureRuleSeesAnInternalTypeInAPublicSignature() {
    JavaClasses leak = new ClassFileImporter().importClasses(LeaksAnInternalType.class);

    assertThatThrownBy(() -> classes().should(exposeNoInternalType()).check(leak))
        .hasMessageContaining("work() returns internal " + Work.class.getName())
        .hasMessageContaining("constructor takes internal " + Work.class.getName())
        .hasMessageContaining("implements internal " + GroupRunner.class.getName());
  }

  @Test
  void theSqlScanFindsStatementsInLiteralsButNotInCommentsOrProse() {
    String source =
        """
        /** Runs SELECT 1 FROM t. */
        class X {
          // DELETE FROM t
          String a = "SELECT id FROM t WHERE x = ?";
          String b = "update the setting consumer.concurrency";
          String c = \"\"\"
              INSERT INTO t (id) VALUES (?)\"\"\";
          String d = "ms', true), pg_advisory_xact_lock(?)";
          String e = "one SELECT 1 per transaction";
        }
        """;

    assertThat(sqlLiterals(source))
        .containsExactly(
            "SELECT id FROM t WHERE x = ?",
            "INSERT INTO t (id) VALUES (?)",
            "ms', true), pg_advisory_xact_lock(?)");
  }

  @Test
  void onlyTheStoresHoldSqlText() throws IOException {
    List<String> violations = new ArrayList<>();
    for (Path root : SOURCE_ROOTS) {
      assertThat(root).isDirectory();
      violations.addAll(sqlOutsideItsHomes(root));
    }
    assertThat(violations)
        .as(
            "SQL text outside ..internal.store.., dev.idem.lock.internal.LockSql and"
                + " SchemaMigrator, and the transaction template's SELECT 1")
        .isEmpty();
  }

  private static List<String> sqlOutsideItsHomes(Path root) throws IOException {
    List<String> violations = new ArrayList<>();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
        String type = root.relativize(file).toString().replace('\\', '/');
        type = type.substring(0, type.length() - ".java".length()).replace('/', '.');
        String pkg = type.contains(".") ? type.substring(0, type.lastIndexOf('.')) : "";
        if (sqlHome(pkg) || sqlHome(type)) {
          continue;
        }
        for (String sql : sqlLiterals(read(file))) {
          violations.add(type + ": " + sql);
        }
      }
    }
    return violations;
  }

  // ---- helpers

  /** A public type that leaks internal types, to show that the signature rule sees them. */
  public abstract static class LeaksAnInternalType implements GroupRunner {
    /** Takes an internal type. */
    public LeaksAnInternalType(Work w) {}

    /** Returns an internal type. */
    public abstract Work work();
  }

  private static boolean sqlHome(String name) {
    return SQL_HOMES.stream().anyMatch(p -> p.matcher(name).matches());
  }

  /** String literals and text blocks of {@code source} that contain SQL, one line each. */
  static List<String> sqlLiterals(String source) {
    List<String> found = new ArrayList<>();
    Matcher m = STRING_LITERAL.matcher(withoutComments(source));
    while (m.find()) {
      String text = m.group(1) != null ? m.group(1) : m.group(2);
      if (SQL.matcher(text).find()) {
        String line = text.strip().replaceAll("\\s+", " ");
        found.add(line.length() > 80 ? line.substring(0, 80) + "..." : line);
      }
    }
    return found;
  }

  /** Drops comments, so that javadoc mentioning a statement is not taken for SQL text. */
  private static String withoutComments(String source) {
    // Literals first in the alternation, so that "//" or "/*" inside a string is kept.
    Matcher m =
        Pattern.compile(
                "(\"\"\".*?\"\"\"|\"(?:[^\"\\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\\n]|\\\\.)*')"
                    + "|/\\*.*?\\*/|//[^\\n]*",
                Pattern.DOTALL)
            .matcher(source);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(m.group(1) != null ? m.group(1) : " "));
    }
    m.appendTail(sb);
    return sb.toString();
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Public, and every class it is nested in public too: users can name it. */
  private static com.tngtech.archunit.base.DescribedPredicate<JavaClass> effectivelyPublic() {
    return com.tngtech.archunit.base.DescribedPredicate.describe(
        "are public (and nested only in public classes)",
        c -> {
          for (Optional<JavaClass> k = Optional.of(c);
              k.isPresent();
              k = k.get().getEnclosingClass()) {
            if (!k.get().getModifiers().contains(JavaModifier.PUBLIC)) {
              return false;
            }
          }
          return !c.isAnonymousClass() && !c.isLocalClass();
        });
  }

  /**
   * Checks supertypes, and the types (with their type arguments) of public and protected fields,
   * method and constructor parameters, returns and declared exceptions.
   */
  private static ArchCondition<JavaClass> exposeNoInternalType() {
    return new ArchCondition<>("expose no ..internal.. type in a public or protected signature") {
      @Override
      public void check(JavaClass c, ConditionEvents events) {
        c.getSuperclass().ifPresent(t -> report(c, "extends", t, events));
        c.getInterfaces().forEach(t -> report(c, "implements", t, events));
        for (JavaField f : c.getFields()) {
          if (visible(f)) {
            report(c, "field " + f.getName(), f.getType(), events);
          }
        }
        for (JavaCodeUnit u : c.getCodeUnits()) {
          if (!visible(u) || u.getModifiers().contains(JavaModifier.SYNTHETIC)) {
            continue;
          }
          String where = u.getName().equals("<init>") ? "constructor" : u.getName() + "()";
          report(c, where + " returns", u.getReturnType(), events);
          for (JavaType p : u.getParameterTypes()) {
            report(c, where + " takes", p, events);
          }
          for (JavaClass e : u.getExceptionTypes()) {
            report(c, where + " throws", e, events);
          }
        }
      }
    };
  }

  private static boolean visible(HasModifiers member) {
    return member.getModifiers().contains(JavaModifier.PUBLIC)
        || member.getModifiers().contains(JavaModifier.PROTECTED);
  }

  private static void report(JavaClass owner, String where, JavaType type, ConditionEvents events) {
    String internal =
        type.getAllInvolvedRawTypes().stream()
            .filter(t -> t.getPackageName().matches("dev\\.idem\\..*\\binternal\\b.*"))
            .map(JavaClass::getName)
            .sorted()
            .collect(Collectors.joining(", "));
    if (!internal.isEmpty()) {
      events.add(
          SimpleConditionEvent.violated(
              owner, owner.getName() + " " + where + " internal " + internal));
    }
  }
}
